package attestation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// Verify verifies the attestations of the artifact attached to subject
// (ratify.Verifier): each layer's DSSE envelope, the subject of its
// statement and the predicate policy of its predicate type. The artifact
// passes when one statement passes.
//
// An attestation that does not verify, or whose predicate a policy
// rejects, is a Report with IsSuccess false and a nil error. An error
// means no verdict: the manifest or a layer could not be read through
// content, the artifact has more than MaxEnvelopes layers
// (errdef.ErrSizeExceedsLimit), a key management provider could not serve
// its keys (errdef.ErrTrustMaterialUnavailable), a Rego policy failed or
// ran out of time (errdef.ErrTimeout), or ctx ended.
func (v *Verifier) Verify(ctx context.Context, subject ratify.Subject, artifact ocispec.Descriptor, content ratify.Fetcher) (ratify.Report, error) {
	if artifact.Size > maxManifestSize {
		return ratify.Report{}, fmt.Errorf("attestation manifest %s is %d bytes, more than %d: %w",
			artifact.Digest, artifact.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	raw, err := content.Fetch(ctx, artifact)
	if err != nil {
		return ratify.Report{}, fmt.Errorf("fetch attestation manifest %s: %w", artifact.Digest, err)
	}
	layers, problem := manifestLayers(raw)
	if problem != "" {
		return failure("the artifact is not an attestation manifest", problem, nil), nil
	}
	if len(layers) > MaxEnvelopes {
		return ratify.Report{}, fmt.Errorf("attestation manifest %s has %d layers, more than %d: %w",
			artifact.Digest, len(layers), MaxEnvelopes, errdef.ErrSizeExceedsLimit)
	}
	trusted, err := v.keys(ctx)
	if err != nil {
		return ratify.Report{}, err
	}
	ext := &Extensions{Statements: []StatementResult{}}
	for _, l := range layers {
		if err := ctx.Err(); err != nil {
			return ratify.Report{}, fmt.Errorf("verify attestation %s: %w", artifact.Digest, err)
		}
		r, err := v.checkLayer(ctx, l, content, subject, trusted)
		if err != nil {
			return ratify.Report{}, err
		}
		ext.Statements = append(ext.Statements, r)
	}
	return report(ext), nil
}

// checkLayer reads and verifies one layer. Only a failure to fetch, a
// key or policy failure, or ctx ending is an error.
func (v *Verifier) checkLayer(ctx context.Context, l ocispec.Descriptor, content ratify.Fetcher, subject ratify.Subject,
	trusted []trustedKey) (StatementResult, error) {
	r := StatementResult{Digest: l.Digest, MediaType: l.MediaType}
	limit, ok := layerLimit(l.MediaType)
	switch {
	case !ok:
		r.Error = fmt.Sprintf("layer media type %q is neither a Sigstore bundle nor a DSSE envelope (%s)", l.MediaType, MediaTypeDSSE)
		return r, nil
	case l.Digest.Validate() != nil:
		r.Error = fmt.Sprintf("layer digest %q is not valid", l.Digest)
		return r, nil
	case l.Size <= 0 || l.Size > limit:
		r.Error = fmt.Sprintf("layer size %d is not between 1 and %d bytes", l.Size, limit)
		return r, nil
	}
	blob, err := content.Fetch(ctx, l)
	if err != nil {
		return r, fmt.Errorf("fetch attestation %s: %w", l.Digest, err)
	}
	if int64(len(blob)) != l.Size {
		r.Error = fmt.Sprintf("blob is %d bytes, not the %d its descriptor says", len(blob), l.Size)
		return r, nil
	}
	e := parseLayer(l, blob, subject.Descriptor.Digest)
	if e.statement != nil {
		r.PredicateType = e.statement.PredicateType
	}
	if e.problem != "" {
		r.Error = e.problem
		return r, nil
	}
	signer, payload, problem := v.verifySignature(e, trusted, subject.Descriptor.Digest, v.now())
	if problem != "" {
		r.Error = problem
		return r, nil
	}
	r.Signer = signer
	// From here on, only what the signature covers is read.
	st, problem := parseStatement(payload)
	if problem == "" && !st.about(subject.Descriptor.Digest) {
		problem = fmt.Sprintf("the statement is about %s, not about the image %s", st.subjects(), subject.Descriptor.Digest)
	}
	if problem != "" {
		r.Error = problem
		return r, nil
	}
	r.PredicateType = st.PredicateType
	return v.applyPolicy(ctx, r, st, payload)
}

// applyPolicy checks a verified statement against the predicate policy of
// its type, or else the "*" policy.
func (v *Verifier) applyPolicy(ctx context.Context, r StatementResult, st *statement, payload []byte) (StatementResult, error) {
	p := v.policyFor(st.PredicateType)
	if p == nil {
		r.Error = fmt.Sprintf("no predicate policy accepts predicate type %q (accepted: %s)", st.PredicateType, v.acceptedTypes())
		return r, nil
	}
	r.Policy = p.predicateType
	if p.slsa != nil {
		passed, problem := p.slsa.check(st.Predicate)
		r.Checks = append(r.Checks, passed...)
		if problem != "" {
			r.Error = "SLSA provenance: " + problem
			return r, nil
		}
	}
	if p.rego != nil {
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			r.Error = fmt.Sprintf("the statement does not decode: %v", err)
			return r, nil
		}
		ok, reason, err := p.rego.allow(ctx, doc)
		if err != nil {
			return r, fmt.Errorf("attestation %s, predicate type %s: %w", r.Digest, st.PredicateType, err)
		}
		if !ok {
			r.Error = reason
			return r, nil
		}
		r.Checks = append(r.Checks, "the Rego policy allows the statement")
	}
	r.IsSuccess = true
	return r, nil
}

// policyFor returns the predicate policy of predicateType, or the "*"
// policy, or nil.
func (v *Verifier) policyFor(predicateType string) *predicatePolicy {
	var wildcard *predicatePolicy
	for _, p := range v.predicates {
		switch p.predicateType {
		case predicateType:
			return p
		case "*":
			wildcard = p
		}
	}
	return wildcard
}

func (v *Verifier) acceptedTypes() string {
	var out []string
	for _, p := range v.predicates {
		out = append(out, p.predicateType)
	}
	return strings.Join(out, ", ")
}

// manifestLayers reads an attestation manifest and returns its layers. A
// non-empty problem says why raw is not a manifest with layers.
func manifestLayers(raw []byte) ([]ocispec.Descriptor, string) {
	var m struct {
		MediaType string               `json:"mediaType"`
		Layers    []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Sprintf("manifest does not parse: %v", err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != "" {
		return nil, fmt.Sprintf("manifest media type %q is not an OCI image manifest", m.MediaType)
	}
	if len(m.Layers) == 0 {
		return nil, "manifest has no layers, so no attestation"
	}
	return m.Layers, ""
}
