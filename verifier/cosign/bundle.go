package cosign

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// bundleSignature is a Sigstore bundle (Sigstore bundle format v0.1 to
// v0.3) whose content signs the subject.
type bundleSignature struct {
	bundle *bundle.Bundle
	// predicateType is the in-toto predicate type of a DSSE bundle.
	predicateType string
}

// parseBundle reads a Sigstore bundle layer and checks, before any
// cryptography, that its content is about the subject: a message
// signature over the subject's digest, or a DSSE envelope whose in-toto
// statement names the subject's digest and is a cosign signature
// (predicate type https://sigstore.dev/cosign/sign/v1), not an
// attestation.
func parseBundle(layer ocispec.Descriptor, raw []byte, subject digest.Digest) sigLayer {
	s := sigLayer{digest: layer.Digest}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		s.problem = fmt.Sprintf("the Sigstore bundle does not parse: %v", err)
		return s
	}
	want, err := hex.DecodeString(subject.Encoded())
	if err != nil || subject.Validate() != nil {
		s.problem = fmt.Sprintf("subject digest %q is not valid", subject)
		return s
	}
	bs := &bundleSignature{bundle: &b}
	if ms := b.GetMessageSignature(); ms != nil {
		s.b64 = base64.StdEncoding.EncodeToString(ms.GetSignature())
		d := ms.GetMessageDigest()
		if d == nil || d.GetAlgorithm() != hashAlgorithm(subject.Algorithm()) || !bytes.Equal(d.GetDigest(), want) {
			s.problem = fmt.Sprintf("the bundle's message signature is over %s:%x, not over the image %s",
				algorithmName(d.GetAlgorithm()), d.GetDigest(), subject)
			return s
		}
		s.bundle = bs
		return s
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		s.problem = "the bundle has neither a message signature nor a DSSE envelope"
		return s
	}
	if sigs := env.GetSignatures(); len(sigs) > 0 {
		s.b64 = base64.StdEncoding.EncodeToString(sigs[0].GetSig())
	}
	if env.GetPayloadType() != inTotoPayloadType {
		s.problem = fmt.Sprintf("the bundle's DSSE payload type %q is not %q", env.GetPayloadType(), inTotoPayloadType)
		return s
	}
	bs.predicateType, s.problem = statementProblem(env.GetPayload(), subject)
	if s.problem == "" {
		s.bundle = bs
	}
	return s
}

// statementProblem checks an in-toto statement (in-toto attestation
// framework v1, "Statement") for a subject with the image's digest and
// the cosign signature predicate type.
func statementProblem(payload []byte, subject digest.Digest) (predicateType, problem string) {
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return "", fmt.Sprintf("the bundle's DSSE payload is not an in-toto statement: %v", err)
	}
	found := false
	var named []string
	for _, sub := range st.Subject {
		for alg, hexDigest := range sub.Digest {
			named = append(named, alg+":"+hexDigest)
			if alg == subject.Algorithm().String() && strings.EqualFold(hexDigest, subject.Encoded()) {
				found = true
			}
		}
	}
	switch {
	case !found:
		return st.PredicateType, fmt.Sprintf("the bundle's statement is about %s, not about the image %s", strings.Join(named, ", "), subject)
	case st.PredicateType != sigstoreSignV1Type:
		return st.PredicateType, fmt.Sprintf("the bundle is an attestation of predicate type %q, not a cosign signature (%s)",
			st.PredicateType, sigstoreSignV1Type)
	}
	return st.PredicateType, ""
}

// algorithmName is the OCI name of a Sigstore hash algorithm.
func algorithmName(a protocommon.HashAlgorithm) string {
	for _, oci := range []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512} {
		if hashAlgorithm(oci) == a {
			return oci.String()
		}
	}
	return strings.ToLower(a.String())
}

// hashAlgorithm is the Sigstore name of an OCI digest algorithm.
func hashAlgorithm(a digest.Algorithm) protocommon.HashAlgorithm {
	switch a {
	case digest.SHA256:
		return protocommon.HashAlgorithm_SHA2_256
	case digest.SHA384:
		return protocommon.HashAlgorithm_SHA2_384
	case digest.SHA512:
		return protocommon.HashAlgorithm_SHA2_512
	}
	return protocommon.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED
}
