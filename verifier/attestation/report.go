package attestation

import (
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/openratify/ratify"
)

// Extensions are what an attestation report says: Report.Extensions holds
// "statements" ([]StatementResult) and "matchedPredicates" (the predicate
// types of the statements that passed, []string).
type Extensions struct {
	Statements []StatementResult
}

// StatementResult is the verification of one attestation (one layer).
type StatementResult struct {
	// Digest and MediaType identify the layer.
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	// PredicateType is the statement's, once it was read.
	PredicateType string `json:"predicateType,omitempty"`
	IsSuccess     bool   `json:"isSuccess"`
	// Signer is who signed the statement, once the signature verified.
	Signer *Signer `json:"signer,omitempty"`
	// Policy is the predicate type of the predicate policy applied (the
	// statement's, or "*").
	Policy string `json:"policy,omitempty"`
	// Checks are the predicate checks that passed.
	Checks []string `json:"checks,omitempty"`
	// Error says why the statement did not pass.
	Error string `json:"error,omitempty"`
}

// report turns the verification of every statement into a report.
func report(ext *Extensions) ratify.Report {
	var matched []string
	passed := 0
	for _, s := range ext.Statements {
		if s.IsSuccess {
			passed++
			if !slices.Contains(matched, s.PredicateType) {
				matched = append(matched, s.PredicateType)
			}
		}
	}
	if passed > 0 {
		return ratify.Report{
			IsSuccess: true,
			Message: fmt.Sprintf("attestation verification success: %d of %d statements verified (predicate types: %v)",
				passed, len(ext.Statements), matched),
			Extensions: map[string]any{"statements": ext.Statements, "matchedPredicates": matched},
		}
	}
	detail := ""
	if len(ext.Statements) > 0 {
		detail = fmt.Sprintf("%s: %s", ext.Statements[0].Digest, ext.Statements[0].Error)
		if n := len(ext.Statements); n > 1 {
			detail += fmt.Sprintf(" (and %d more attestations)", n-1)
		}
	}
	return failure("no attestation of the image verified", detail, ext)
}

// failure is a report on an artifact that did not verify.
func failure(reason, detail string, ext *Extensions) ratify.Report {
	r := ratify.Report{
		Message:     "attestation verification failed: " + reason,
		ErrorReason: reason,
		Remediation: "attach an in-toto attestation about the image, signed with a trusted key or identity, " +
			"whose predicate type and content satisfy the verifier's predicates",
	}
	if detail != "" {
		r.ErrorReason += ": " + detail
	}
	if ext != nil {
		r.Extensions = map[string]any{"statements": ext.Statements, "matchedPredicates": []string{}}
	}
	return r
}
