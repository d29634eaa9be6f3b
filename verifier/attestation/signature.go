package attestation

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// Signer says who signed a verified statement: a trusted key, or a
// Fulcio certificate's identity and issuer.
type Signer struct {
	Key      *KeyInfo `json:"key,omitempty"`
	Identity string   `json:"identity,omitempty"`
	Issuer   string   `json:"issuer,omitempty"`
	// TLogVerified is true when a transparency log entry of the signature
	// was verified against the trusted root.
	TLogVerified bool `json:"tlogVerified"`
}

// verifySignature verifies e's signature with keys or, for a bundle with
// a certificate, keyless, and returns the signer and the payload the
// signature covers. A non-empty problem says why the signature does not
// verify.
func (v *Verifier) verifySignature(e *envelope, keys []trustedKey, subject digest.Digest, now time.Time) (*Signer, []byte, string) {
	if e.bundle == nil {
		return v.verifyDSSE(e, keys)
	}
	content, err := e.bundle.VerificationContent()
	if err != nil {
		return nil, nil, fmt.Sprintf("the bundle's verification material: %v", err)
	}
	raw, _ := hex.DecodeString(subject.Encoded())
	artifact := verify.WithArtifactDigest(subject.Algorithm().String(), raw)
	payload := e.bundle.GetDsseEnvelope().GetPayload()
	if content.Certificate() != nil {
		if v.keyless == nil {
			return nil, nil, "the bundle is signed keyless (a Fulcio certificate), and no keyless identity is trusted"
		}
		s, problem := v.verifyKeyless(e, content.Certificate().NotBefore, content.Certificate().NotAfter, artifact, now)
		if problem != "" {
			return nil, nil, problem
		}
		return s, payload, ""
	}
	if len(keys) == 0 {
		return nil, nil, "the bundle is signed with a key, and only a keyless identity is trusted"
	}
	first := ""
	for _, k := range keys {
		if k.refused != "" {
			first = cmpOr(first, k.refused)
			continue
		}
		opts := []verify.VerifierOption{verify.WithNoObserverTimestamps()}
		if v.tlog {
			opts = append(opts, verify.WithTransparencyLog(1))
		}
		if _, err := run(e.bundle, artifact, verify.WithKey(), material(v.trusted, k.verifier), opts); err != nil {
			first = cmpOr(first, err.Error())
			continue
		}
		return &Signer{Key: &k.info, TLogVerified: v.tlog}, payload, ""
	}
	return nil, nil, noKeyProblem(len(keys), first)
}

// verifyDSSE verifies a bare DSSE envelope (DSSE v1.0, over its
// pre-authentication encoding) with each trusted key.
func (v *Verifier) verifyDSSE(e *envelope, keys []trustedKey) (*Signer, []byte, string) {
	switch {
	case v.tlog:
		return nil, nil, "tLogVerify is on, and a bare DSSE envelope carries no transparency log entry; attach the attestation as a Sigstore bundle"
	case len(keys) == 0:
		return nil, nil, "a bare DSSE envelope carries no certificate, so only keys verify it, and no key is trusted"
	}
	first := ""
	for _, k := range keys {
		if k.refused != "" {
			first = cmpOr(first, k.refused)
			continue
		}
		var payload []byte
		w := sigdsse.WrapVerifier(k.verifier, sigdsse.WithExpectedPayloadType(PayloadTypeInToto), sigdsse.WithDecodedPayload(&payload))
		if err := w.VerifySignature(bytes.NewReader(e.raw), nil); err != nil {
			first = cmpOr(first, err.Error())
			continue
		}
		return &Signer{Key: &k.info}, payload, ""
	}
	return nil, nil, noKeyProblem(len(keys), first)
}

func noKeyProblem(n int, first string) string {
	if n == 1 {
		return "the signature does not verify with the trusted key: " + first
	}
	return fmt.Sprintf("no trusted key verifies the signature (first: %s)", first)
}

// verifyKeyless verifies a bundle's Fulcio certificate against the trusted
// root at a time a transparency log entry or RFC 3161 timestamp attests
// (or, with neither required, now), and its identity and issuer.
func (v *Verifier) verifyKeyless(e *envelope, notBefore, notAfter time.Time, artifact verify.ArtifactPolicyOption, now time.Time) (*Signer, string) {
	var opts []verify.VerifierOption
	timestamps, _ := e.bundle.Timestamps()
	switch {
	case v.tlog:
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	case len(timestamps) > 0 && len(v.trusted.TimestampingAuthorities()) > 0:
		opts = append(opts, verify.WithSignedTimestamps(1))
	default:
		if now.Before(notBefore) || now.After(notAfter) {
			return nil, fmt.Sprintf("the signing certificate is valid from %s to %s, not at %s, and no transparency log entry or timestamp "+
				"shows the attestation was signed while it was valid", notBefore.UTC().Format(time.RFC3339),
				notAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		opts = append(opts, verify.WithCurrentTime())
	}
	if v.ctlog {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	res, err := run(e.bundle, artifact, verify.WithCertificateIdentity(*v.keyless), v.trusted, opts)
	if err != nil {
		return nil, err.Error()
	}
	s := &Signer{TLogVerified: v.tlog}
	if c := res.Signature.Certificate; c != nil {
		s.Identity, s.Issuer = c.SubjectAlternativeName, c.Issuer
	}
	return s, ""
}

// run verifies entity with sigstore-go against material, requiring it to
// be signed over artifact by signer.
func run(entity verify.SignedEntity, artifact verify.ArtifactPolicyOption, signer verify.PolicyOption,
	material root.TrustedMaterial, opts []verify.VerifierOption) (*verify.VerificationResult, error) {
	sv, err := verify.NewVerifier(material, opts...)
	if err != nil {
		return nil, err
	}
	return sv.Verify(entity, verify.NewPolicy(artifact, signer))
}

// material is what sigstore-go verifies a key-signed bundle against: the
// key, and the trusted root's logs when there is one.
func material(tr root.TrustedMaterial, k *keyVerifier) root.TrustedMaterial {
	var tm root.TrustedMaterialCollection
	if tr != nil {
		tm = append(tm, tr)
	}
	return append(tm, k.material())
}

func cmpOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
