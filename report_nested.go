package ratify

import "time"

// NestedResultVersion is the version of Ratify v1's nested result format
// ("1.1.0"), the one its regoPolicy produces and judges: one entry per
// attached artifact, each with the reports of every verifier that looked at
// it and the entries of the artifacts attached to it in turn.
const NestedResultVersion = "1.1.0"

// NestedResult is the verdict on one subject in Ratify v1's result format
// 1.1.0. Result.Nested builds it. Its JSON form, as the provider returns it
// in a verify item's value:
//
//	{
//	  "version": "1.1.0",
//	  "isSuccess": true,
//	  "traceID": "6f1c...",
//	  "timestamp": "2026-11-28T10:00:00.123456789Z",
//	  "verifierReports": [
//	    {
//	      "subject": "registry.example/app@sha256:aa...",
//	      "referenceDigest": "sha256:bb...",
//	      "artifactType": "application/spdx+json",
//	      "verifierReports": [
//	        {"isSuccess": true, "message": "SBOM verification success", "name": "sbom",
//	         "verifierName": "sbom", "type": "sbom", "verifierType": "sbom", "extensions": null}
//	      ],
//	      "nestedReports": [
//	        {
//	          "subject": "registry.example/app@sha256:bb...",
//	          "referenceDigest": "sha256:cc...",
//	          "artifactType": "application/vnd.cncf.notary.signature",
//	          "verifierReports": [
//	            {"isSuccess": true, "message": "signature verification success", "name": "notation",
//	             "verifierName": "notation", "type": "notation", "verifierType": "notation",
//	             "extensions": {"Issuer": "CN=ca", "SN": "CN=signer"}}
//	          ],
//	          "nestedReports": []
//	        }
//	      ]
//	    }
//	  ]
//	}
//
// As in Ratify v1, "verifierReports" is left out when nothing was verified,
// while an artifact entry always carries both of its lists, empty or not.
type NestedResult struct {
	Version   string    `json:"version"`
	IsSuccess bool      `json:"isSuccess"`
	TraceID   string    `json:"traceID,omitempty"`
	Timestamp time.Time `json:"timestamp"`
	// VerifierReports has one entry per artifact attached to the subject.
	VerifierReports []ArtifactReport `json:"verifierReports,omitempty"`
}

// ArtifactReport is what every verifier concluded about one artifact
// attached to a subject, and about the artifacts attached to that artifact
// (Ratify v1's nested verifier report).
type ArtifactReport struct {
	// Subject is the subject the artifact is attached to, pinned to its digest.
	Subject string `json:"subject"`
	// ReferenceDigest is the digest of the artifact's manifest.
	ReferenceDigest string           `json:"referenceDigest"`
	ArtifactType    string           `json:"artifactType"`
	VerifierReports []VerifierReport `json:"verifierReports"`
	// NestedReports are the entries of the artifacts attached to this one
	// (the signature of an SBOM).
	NestedReports []ArtifactReport `json:"nestedReports"`
}

// VerifierReport is one verifier's conclusion inside an ArtifactReport. It is
// a Report without the fields its ArtifactReport already carries.
type VerifierReport struct {
	IsSuccess   bool   `json:"isSuccess"`
	Message     string `json:"message"`
	ErrorReason string `json:"errorReason,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	// Name repeats VerifierName, as Ratify v1 does for older clients.
	Name         string `json:"name"`
	VerifierName string `json:"verifierName,omitempty"`
	// Type repeats VerifierType, as Ratify v1 does for older clients.
	Type         string         `json:"type,omitempty"`
	VerifierType string         `json:"verifierType,omitempty"`
	Extensions   map[string]any `json:"extensions"`
}

// Nested returns r in the nested format 1.1.0 (see NestedResult).
func (r Result) Nested() NestedResult {
	return NestedResult{
		Version:         NestedResultVersion,
		IsSuccess:       r.IsSuccess,
		TraceID:         r.TraceID,
		Timestamp:       r.Timestamp,
		VerifierReports: NestReports(r.VerifierReports),
	}
}

// NestReports groups reports, one per (artifact, verifier) pair as the
// Executor makes them, into one ArtifactReport per artifact, in the order the
// artifacts first appear; each report's NestedResults become the entry's
// NestedReports, grouped the same way. When two verifiers of one artifact
// both verified its attached artifacts, a (artifact, verifier) pair met twice
// is kept once. The result is never nil.
//
// A report's own verdict is copied as it is: when the Executor failed a
// report because its nested artifacts failed the policy, the report says
// so, and the failing artifacts are in NestedReports.
func NestReports(reports []Report) []ArtifactReport {
	out := []ArtifactReport{}
	index := make(map[artifactKey]int)
	nested := make(map[int][]Report)
	seen := make(map[pairKey]bool)
	for _, r := range reports {
		k := artifactKey{subject: r.Subject, digest: r.ReferenceDigest}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, ArtifactReport{
				Subject:         r.Subject,
				ReferenceDigest: r.ReferenceDigest,
				ArtifactType:    r.ArtifactType,
				VerifierReports: []VerifierReport{},
			})
		}
		out[i].VerifierReports = append(out[i].VerifierReports, verifierReport(r))
		for _, n := range r.NestedResults {
			if p := (pairKey{artifactKey{n.Subject, n.ReferenceDigest}, n.VerifierName}); !seen[p] {
				seen[p] = true
				nested[i] = append(nested[i], n)
			}
		}
	}
	for i := range out {
		out[i].NestedReports = NestReports(nested[i])
	}
	return out
}

type artifactKey struct{ subject, digest string }

type pairKey struct {
	artifact artifactKey
	verifier string
}

func verifierReport(r Report) VerifierReport {
	name := r.VerifierName
	if name == "" {
		name = r.Name
	}
	typ := r.VerifierType
	if typ == "" {
		typ = r.Type
	}
	return VerifierReport{
		IsSuccess:    r.IsSuccess,
		Message:      r.Message,
		ErrorReason:  r.ErrorReason,
		Remediation:  r.Remediation,
		Name:         name,
		VerifierName: name,
		Type:         typ,
		VerifierType: typ,
		Extensions:   r.Extensions,
	}
}
