package cosign

import (
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/openratify/ratify"
)

// Extensions are what a cosign report says about each signature, in the
// shape of Ratify v1's cosign verifier extensions: Report.Extensions holds
// "signatures" ([]SignatureResult) and "trustPolicy" (the policy's name).
type Extensions struct {
	Signatures  []SignatureResult `json:"signatures"`
	TrustPolicy string            `json:"trustPolicy,omitempty"`
}

// SignatureResult is the verification of one signature (one layer). It
// carries both v1 shapes: that of trust policies (signature and
// verifications) and that of the single-key form (signatureDigest,
// isSuccess, bundleVerified and error at this level).
type SignatureResult struct {
	// Signature is the base64 signature.
	Signature       string        `json:"signature,omitempty"`
	SignatureDigest digest.Digest `json:"signatureDigest"`
	// IsSuccess is true when one of the verifications succeeded.
	IsSuccess bool `json:"isSuccess"`
	// BundleVerified is true when a successful verification verified the
	// signature's transparency log entry.
	BundleVerified bool `json:"bundleVerified"`
	// Error says why the signature did not verify.
	Error string `json:"error,omitempty"`
	// Verifications are the checks under each key of the policy, or under
	// its keyless identity. It is empty when the signature could not be
	// checked at all (Error says why).
	Verifications []Verification `json:"verifications"`
}

// Verification is the check of one signature with one key, or keyless.
type Verification struct {
	SignatureDigest digest.Digest `json:"signatureDigest,omitempty"`
	IsSuccess       bool          `json:"isSuccess"`
	// BundleVerified is true when the transparency log entry verified.
	BundleVerified bool   `json:"bundleVerified"`
	Error          string `json:"error,omitempty"`
	// KeyInformation names the key, for key trust policies.
	KeyInformation *KeyInfo `json:"keyInformation,omitempty"`
	// Identity and Issuer are the verified certificate's subject
	// alternative name and OIDC issuer, for keyless trust policies.
	Identity string `json:"identity,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	// Summary lists the checks that passed.
	Summary []string `json:"summary,omitempty"`
}

// report turns the verification of every signature into a report.
func report(p *policy, ext *Extensions) ratify.Report {
	verified := 0
	for _, s := range ext.Signatures {
		if s.IsSuccess {
			verified++
		}
	}
	if verified > 0 {
		return ratify.Report{
			IsSuccess: true,
			Message: fmt.Sprintf("cosign verification success: %d of %d signatures verified under trust policy %q",
				verified, len(ext.Signatures), p.name),
			Extensions: ext.asMap(),
		}
	}
	detail := ""
	if len(ext.Signatures) > 0 {
		detail = fmt.Sprintf("%s: %s", ext.Signatures[0].SignatureDigest, ext.Signatures[0].Error)
		if n := len(ext.Signatures); n > 1 {
			detail += fmt.Sprintf(" (and %d more signatures)", n-1)
		}
	}
	remedy := fmt.Sprintf("sign the image with a key of trust policy %q, or add the signer's public key to its keys", p.name)
	if !p.keyed() {
		remedy = fmt.Sprintf("sign the image with the identity and OIDC issuer that trust policy %q names, "+
			"with a Fulcio CA and Rekor log of its trusted root", p.name)
	}
	return failure(fmt.Sprintf("no valid cosign signature under trust policy %q", p.name), detail, remedy, ext)
}

// failure is a report on an artifact that did not verify.
func failure(reason, detail, remediation string, ext *Extensions) ratify.Report {
	r := ratify.Report{
		Message:     "signature verification failed: " + reason,
		ErrorReason: reason,
		Remediation: remediation,
	}
	if detail != "" {
		r.ErrorReason += ": " + detail
	}
	if ext != nil {
		r.Extensions = ext.asMap()
	}
	return r
}

func (e *Extensions) asMap() map[string]any {
	m := map[string]any{"signatures": e.Signatures}
	if e.Signatures == nil {
		m["signatures"] = []SignatureResult{}
	}
	if e.TrustPolicy != "" {
		m["trustPolicy"] = e.TrustPolicy
	}
	return m
}
