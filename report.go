package ratify

import "time"

// ResultVersion is the version of the verification result format that the
// config policy produces (Ratify v1's "0.2.0").
const ResultVersion = "0.2.0"

// Report is what one verifier concluded about one artifact attached to a
// subject. Its JSON form is the verifier report of Ratify v1's result 0.2.0.
type Report struct {
	// Subject is the verified subject, pinned to its digest.
	Subject   string `json:"subject,omitempty"`
	IsSuccess bool   `json:"isSuccess"`
	// Name repeats VerifierName for clients of older result versions.
	Name         string `json:"name,omitempty"`
	VerifierName string `json:"verifierName,omitempty"`
	// Type repeats VerifierType for clients of older result versions.
	Type            string `json:"type,omitempty"`
	VerifierType    string `json:"verifierType,omitempty"`
	ReferenceDigest string `json:"referenceDigest,omitempty"`
	ArtifactType    string `json:"artifactType,omitempty"`
	Message         string `json:"message,omitempty"`
	// ErrorReason says why the artifact failed, in one line.
	ErrorReason string `json:"errorReason,omitempty"`
	// Remediation tells the operator what to change.
	Remediation string `json:"remediation,omitempty"`
	// Extensions carry verifier-specific facts (for notation: the signer's
	// issuer, subject and serial number).
	Extensions map[string]any `json:"extensions,omitempty"`
	// NestedResults are the reports on the artifact's own referrers, when
	// the verifier asks for nested verification.
	NestedResults []Report `json:"nestedResults,omitempty"`
}

// Result is the verdict on one subject: the policy's decision and every
// report it was made from.
type Result struct {
	Version         string    `json:"version"`
	IsSuccess       bool      `json:"isSuccess"`
	TraceID         string    `json:"traceID,omitempty"`
	Timestamp       time.Time `json:"timestamp"`
	VerifierReports []Report  `json:"verifierReports"`
	// Platforms are the verifications of an image index's platform
	// manifests, when the platform mode asks for them (see PlatformMode).
	Platforms []PlatformResult `json:"platforms,omitempty"`
}
