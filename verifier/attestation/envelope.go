package attestation

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// envelope is one layer of an attestation artifact, parsed: a DSSE
// envelope, alone or in a Sigstore bundle, and its in-toto statement, not
// yet verified. An envelope with a problem is never verified.
type envelope struct {
	digest    digest.Digest
	mediaType string
	// raw is the JSON of a bare DSSE envelope; bundle is set instead for
	// a Sigstore bundle.
	raw    []byte
	bundle *bundle.Bundle
	// payload is the envelope's payload, the in-toto statement, and
	// statement what it says.
	payload   []byte
	statement *statement
	problem   string
}

// dsseEnvelope is a DSSE envelope (DSSE v1.0 "Envelope"), in JSON.
type dsseEnvelope struct {
	PayloadType string `json:"payloadType"`
	Payload     string `json:"payload"`
	Signatures  []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

// statement is an in-toto statement (in-toto attestation framework v1,
// "Statement"; v0.1 has the same fields).
type statement struct {
	Type    string `json:"_type"`
	Subject []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// layerLimit is the largest blob of a layer of media type mt read, and
// false when the media type is not one of an attestation.
func layerLimit(mt string) (int64, bool) {
	switch {
	case isBundleType(mt):
		return maxBundleSize, true
	case mt == MediaTypeDSSE || mt == ArtifactTypeInToto:
		return maxEnvelopeSize, true
	}
	return 0, false
}

// parseLayer reads one layer's blob, before any cryptography: a Sigstore
// bundle holding a DSSE envelope, or a bare DSSE envelope, whose payload
// is an in-toto statement about subject.
func parseLayer(layer ocispec.Descriptor, blob []byte, subject digest.Digest) *envelope {
	e := &envelope{digest: layer.Digest, mediaType: layer.MediaType}
	if isBundleType(layer.MediaType) {
		e.parseBundle(blob)
	} else {
		e.parseDSSE(blob)
	}
	if e.problem != "" {
		return e
	}
	e.statement, e.problem = parseStatement(e.payload)
	if e.problem == "" && !e.statement.about(subject) {
		e.problem = fmt.Sprintf("the statement is about %s, not about the image %s", e.statement.subjects(), subject)
	}
	return e
}

func (e *envelope) parseBundle(blob []byte) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(blob); err != nil {
		e.problem = fmt.Sprintf("the Sigstore bundle does not parse: %v", err)
		return
	}
	env := b.GetDsseEnvelope()
	switch {
	case b.GetMessageSignature() != nil:
		e.problem = "the bundle is a cosign signature (a message signature), not an attestation; verify it with the cosign verifier"
	case env == nil:
		e.problem = "the bundle has no DSSE envelope"
	case env.GetPayloadType() != PayloadTypeInToto:
		e.problem = fmt.Sprintf("the DSSE payload type %q is not %q", env.GetPayloadType(), PayloadTypeInToto)
	case len(env.GetSignatures()) == 0:
		e.problem = "the DSSE envelope has no signature"
	default:
		e.bundle = &b
		e.payload = env.GetPayload()
	}
}

func (e *envelope) parseDSSE(blob []byte) {
	var env dsseEnvelope
	if err := json.Unmarshal(blob, &env); err != nil {
		e.problem = fmt.Sprintf("the layer is not a DSSE envelope: %v", err)
		return
	}
	switch {
	case env.PayloadType == "" && env.Payload == "" && len(env.Signatures) == 0:
		e.problem = "the layer is not a DSSE envelope (an unsigned statement?)"
		return
	case env.PayloadType != PayloadTypeInToto:
		e.problem = fmt.Sprintf("the DSSE payload type %q is not %q", env.PayloadType, PayloadTypeInToto)
		return
	case len(env.Signatures) == 0:
		e.problem = "the DSSE envelope has no signature"
		return
	case len(env.Signatures) > MaxSignatures:
		e.problem = fmt.Sprintf("the DSSE envelope has %d signatures, more than %d", len(env.Signatures), MaxSignatures)
		return
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		if payload, err = base64.URLEncoding.DecodeString(env.Payload); err != nil {
			e.problem = "the DSSE payload is not base64"
			return
		}
	}
	e.raw = blob
	e.payload = payload
}

// parseStatement reads an in-toto statement; a non-empty problem says why
// payload is not one.
func parseStatement(payload []byte) (*statement, string) {
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Sprintf("the DSSE payload is not an in-toto statement: %v", err)
	}
	switch {
	case st.Type != StatementV1 && st.Type != StatementV01:
		return nil, fmt.Sprintf("the statement type %q is not %s", st.Type, StatementV1)
	case st.PredicateType == "":
		return nil, "the statement has no predicate type"
	case st.PredicateType == predicateCosignSign:
		return nil, "the statement is a cosign signature (" + predicateCosignSign + "), not an attestation; verify it with the cosign verifier"
	case len(st.Subject) == 0:
		return nil, "the statement has no subject"
	}
	return &st, ""
}

// about reports whether a subject of the statement has the digest d
// (hex compared without regard to case).
func (st *statement) about(d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	for _, s := range st.Subject {
		if hex, ok := s.Digest[d.Algorithm().String()]; ok && strings.EqualFold(hex, d.Encoded()) {
			return true
		}
	}
	return false
}

// subjects lists the statement's subject digests, for messages.
func (st *statement) subjects() string {
	var out []string
	for _, s := range st.Subject {
		for alg, hex := range s.Digest {
			out = append(out, alg+":"+hex)
		}
	}
	sort.Strings(out)
	if len(out) > 4 {
		out = append(out[:4], fmt.Sprintf("and %d more", len(out)-4))
	}
	if len(out) == 0 {
		return "no digest"
	}
	return strings.Join(out, ", ")
}

// isBundleType reports whether mt is a Sigstore bundle media type that
// sigstore-go reads (bundle v0.1 to v0.3).
func isBundleType(mt string) bool {
	switch mt {
	case ArtifactTypeBundle, ArtifactTypeBundleV02, ArtifactTypeBundleV01:
		return true
	}
	return false
}
