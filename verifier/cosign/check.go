package cosign

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/openratify/ratify"
)

// trust is what a policy verifies with at one verification: its keys now
// (none for keyless) and its trusted root (nil when it needs none).
type trust struct {
	keys []trustedKey
	root root.TrustedMaterial
}

// check verifies one signature under the policy: with each of its keys,
// or with its keyless identity.
func (p *policy) check(sig sigLayer, t trust, subject ratify.Subject, now time.Time) SignatureResult {
	r := SignatureResult{Signature: sig.b64, SignatureDigest: sig.digest, Verifications: []Verification{}}
	if sig.problem != "" {
		r.Error = sig.problem
		return r
	}
	if p.keyed() {
		if len(t.keys) == 0 {
			r.Error = fmt.Sprintf("trust policy %q has no key", p.name)
		}
		for i := range t.keys {
			r.Verifications = append(r.Verifications, p.checkKey(sig, &t.keys[i], t.root, subject))
		}
	} else {
		r.Verifications = append(r.Verifications, p.checkKeyless(sig, t.root, subject, now))
	}
	for _, vr := range r.Verifications {
		if vr.IsSuccess {
			r.IsSuccess = true
			r.BundleVerified = r.BundleVerified || vr.BundleVerified
		}
	}
	if !r.IsSuccess && r.Error == "" && len(r.Verifications) > 0 {
		r.Error = r.Verifications[0].Error
		if len(r.Verifications) > 1 {
			r.Error = fmt.Sprintf("no key of trust policy %q verifies the signature (first: %s)", p.name, r.Error)
		}
	}
	return r
}

// checkKey verifies sig with one key of the policy, and its transparency
// log entry against trusted root tr when the policy asks for it.
func (p *policy) checkKey(sig sigLayer, k *trustedKey, tr root.TrustedMaterial, subject ratify.Subject) Verification {
	vr := Verification{SignatureDigest: sig.digest, KeyInformation: &k.info}
	if k.refused != "" {
		vr.Error = k.refused
		return vr
	}
	entity := sig.entity(keyContent{pub: k.verifier.pub})
	if sig.legacy != nil && p.tlog && sig.legacy.tlogProblem != "" {
		vr.Error = sig.legacy.tlogProblem
		return vr
	}
	opts := []verify.VerifierOption{verify.WithNoObserverTimestamps()}
	if p.tlog {
		opts = append(opts, verify.WithTransparencyLog(1))
	}
	_, err := p.run(entity, sig.artifact(subject), verify.WithKey(), material(tr, k.verifier), opts)
	if err != nil {
		vr.Error = err.Error()
		return vr
	}
	vr.IsSuccess = true
	vr.BundleVerified = p.tlog
	vr.Summary = []string{fmt.Sprintf("the signature verifies with the %s key", k.algorithm)}
	if p.tlog {
		vr.Summary = append(vr.Summary, "the transparency log entry verifies against the trusted root (offline)")
	}
	return vr
}

// checkKeyless verifies sig's Fulcio certificate against trusted root tr,
// at a time a transparency log entry or RFC 3161 timestamp attests (or,
// with neither required, now), and its identity and issuer.
func (p *policy) checkKeyless(sig sigLayer, tr root.TrustedMaterial, subject ratify.Subject, now time.Time) Verification {
	vr := Verification{SignatureDigest: sig.digest}
	entity := sig.entity(nil)
	content, err := entity.VerificationContent()
	if err != nil || content == nil || content.Certificate() == nil {
		vr.Error = "the signature has no Fulcio certificate; it was signed with a key, which a keyless trust policy does not trust"
		if sig.legacy != nil && sig.legacy.certProblem != "" {
			vr.Error = sig.legacy.certProblem
		}
		return vr
	}
	cert := content.Certificate()
	var opts []verify.VerifierOption
	timestamps, _ := entity.Timestamps()
	switch {
	case p.tlog:
		if sig.legacy != nil && sig.legacy.tlogProblem != "" {
			vr.Error = sig.legacy.tlogProblem
			return vr
		}
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	case len(timestamps) > 0 && len(tr.TimestampingAuthorities()) > 0:
		opts = append(opts, verify.WithSignedTimestamps(1))
	default:
		if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			vr.Error = fmt.Sprintf("the signing certificate is valid from %s to %s, not at %s, and no transparency log entry or timestamp "+
				"shows the signature was made while it was valid", cert.NotBefore.UTC().Format(time.RFC3339),
				cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			return vr
		}
		opts = append(opts, verify.WithCurrentTime())
	}
	if p.ctlog {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	res, err := p.run(entity, sig.artifact(subject), verify.WithCertificateIdentity(*p.keyless), material(tr, nil), opts)
	if err != nil {
		vr.Error = err.Error()
		return vr
	}
	vr.IsSuccess = true
	vr.BundleVerified = p.tlog
	if c := res.Signature.Certificate; c != nil {
		vr.Identity, vr.Issuer = c.SubjectAlternativeName, c.Issuer
	}
	vr.Summary = []string{"the signing certificate chains to a Fulcio CA of the trusted root at the time of signing"}
	for _, ts := range res.VerifiedTimestamps {
		vr.Summary = append(vr.Summary, fmt.Sprintf("signed at %s (%s)", ts.Timestamp.UTC().Format(time.RFC3339), ts.Type))
	}
	if p.tlog {
		vr.Summary = append(vr.Summary, "the transparency log entry verifies against the trusted root (offline)")
	}
	if p.ctlog {
		vr.Summary = append(vr.Summary, "the certificate's signed certificate timestamp verifies against a CT log of the trusted root")
	}
	vr.Summary = append(vr.Summary, "the certificate's identity and issuer match the trust policy")
	return vr
}

// run verifies entity with sigstore-go against material, with options
// opts, and requires it to be signed over artifact by signer.
func (p *policy) run(entity verify.SignedEntity, artifact verify.ArtifactPolicyOption, signer verify.PolicyOption,
	material root.TrustedMaterial, opts []verify.VerifierOption) (*verify.VerificationResult, error) {
	sv, err := verify.NewVerifier(material, opts...)
	if err != nil {
		return nil, err
	}
	return sv.Verify(entity, verify.NewPolicy(artifact, signer))
}

// artifact is what the signature must be over: the payload of a legacy
// signature (whose subject digest was checked when it was parsed), the
// subject's digest for a bundle.
func (s sigLayer) artifact(subject ratify.Subject) verify.ArtifactPolicyOption {
	if s.legacy != nil {
		return verify.WithArtifact(bytes.NewReader(s.legacy.payload))
	}
	d := subject.Descriptor.Digest
	raw, _ := hex.DecodeString(d.Encoded())
	return verify.WithArtifactDigest(d.Algorithm().String(), raw)
}

// entity is the signature as sigstore-go verifies it; content, for a
// legacy signature, is the key to verify with (nil for its certificate).
func (s sigLayer) entity(content verify.VerificationContent) verify.SignedEntity {
	if s.bundle != nil {
		return s.bundle.bundle
	}
	if content == nil && s.legacy.cert != nil {
		content = certContent{cert: s.legacy.cert, chain: s.legacy.chain}
	}
	return s.legacy.entity(content)
}
