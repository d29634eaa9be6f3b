package cosign

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestVerifyBundles(t *testing.T) {
	s, untrusted := newSigstore(t), newSigstore(t)
	signed := s.attest(t, signerIdentity, image.Digest, sigstoreSignV1Type)
	otherArtifact := s.attest(t, signerIdentity, otherImage, sigstoreSignV1Type)
	message, err := s.Sign(signerIdentity, signerIssuer, imageManifest)
	if err != nil {
		t.Fatal(err)
	}
	otherMessage, err := s.Sign(signerIdentity, signerIssuer, []byte("another manifest"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		blob   []byte
		mt     string // layer and artifact type; empty means bundle v0.3
		policy []func(*TrustPolicy)
		want   bool
		reason string
	}{
		{name: "DSSE cosign signature", blob: s.bundleJSON(t, signed, bundleParts{}), want: true},
		{name: "message signature over the image", blob: s.bundleJSON(t, message, bundleParts{}), want: true},
		{name: "bundle v0.2", blob: s.bundleJSON(t, signed, bundleParts{mediaType: ArtifactTypeBundleV02}), mt: ArtifactTypeBundleV02, want: true},
		{name: "bundle v0.1 with promise only", blob: s.bundleJSON(t, message, bundleParts{mediaType: ArtifactTypeBundleV01, noProof: true}),
			mt: ArtifactTypeBundleV01, want: true},
		{name: "inclusion proof and timestamp, no promise", blob: s.bundleJSON(t, signed, bundleParts{noPromise: true}), want: true},
		{name: "statement about another image", blob: s.bundleJSON(t, otherArtifact, bundleParts{}),
			reason: "the bundle's statement is about sha256:" + otherImage.Encoded() + ", not about the image " + image.Digest.String()},
		{name: "message signature over another artifact", blob: s.bundleJSON(t, otherMessage, bundleParts{}),
			reason: "message signature is over sha256:"},
		{name: "log entry of another artifact", blob: s.bundleJSON(t, signed, bundleParts{entryFrom: otherArtifact}),
			reason: "transparency log"},
		{name: "log entry of another message", blob: s.bundleJSON(t, message, bundleParts{entryFrom: otherMessage}),
			reason: "transparency log"},
		{name: "attestation, not a signature", blob: s.bundleJSON(t, s.attest(t, signerIdentity, image.Digest, "https://slsa.dev/provenance/v1"), bundleParts{}),
			reason: `attestation of predicate type "https://slsa.dev/provenance/v1"`},
		{name: "other identity", blob: s.bundleJSON(t, s.attest(t, "intruder@example.com", image.Digest, sigstoreSignV1Type), bundleParts{}),
			reason: "expected SAN value"},
		{name: "untrusted sigstore", blob: untrusted.bundleJSON(t, untrusted.attest(t, signerIdentity, image.Digest, sigstoreSignV1Type), bundleParts{}),
			reason: "not enough verified log entries"},
		{name: "tampered statement", blob: tamperStatement(t, s.bundleJSON(t, signed, bundleParts{})),
			reason: "payload hash"},
		{name: "tampered statement, no log required", blob: tamperStatement(t, s.bundleJSON(t, signed, bundleParts{})),
			policy: []func(*TrustPolicy){func(p *TrustPolicy) { p.TLogVerify = ptr(false) }}, reason: "failed to verify signature"},
		{name: "not a bundle", blob: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`), reason: "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Options{}, s.keylessPolicy(tt.policy...))
			desc, f := bundleManifest(tt.blob, tt.mt).build(t)
			r := mustVerify(t, v, "demo", desc, f)
			if r.IsSuccess != tt.want {
				t.Fatalf("IsSuccess = %v, want %v: %s", r.IsSuccess, tt.want, r.ErrorReason)
			}
			if !strings.Contains(r.ErrorReason, tt.reason) {
				t.Errorf("ErrorReason = %q, want it to contain %q", r.ErrorReason, tt.reason)
			}
			if tt.want {
				sig := signatures(t, r)[0]
				if sig.Signature == "" || !sig.BundleVerified || sig.Verifications[0].Identity != signerIdentity ||
					!strings.Contains(strings.Join(sig.Verifications[0].Summary, "; "), "(Tlog)") && !strings.Contains(tt.name, "no promise") {
					t.Errorf("signature result %+v", sig)
				}
			}
		})
	}
}

// tamperStatement changes the predicate of a DSSE bundle's statement,
// keeping its subject, after it was signed.
func tamperStatement(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b protobundle.Bundle
	if err := protojson.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	env := b.GetDsseEnvelope()
	env.Payload = bytes.Replace(env.Payload, []byte(`"predicate":{}`), []byte(`"predicate":{"approved":true}`), 1)
	out, err := protojson.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyKeyBundle verifies a bundle signed with a key: a message
// signature over the image manifest, with no log entry.
func TestVerifyKeyBundle(t *testing.T) {
	k, other := newKey(t, "ecdsa-p256"), newKey(t, "rsa-3072")
	sig, err := base64.StdEncoding.DecodeString(k.sign(t, imageManifest))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(imageManifest)
	raw, err := protojson.Marshal(&protobundle.Bundle{
		MediaType: ArtifactTypeBundle,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "a hint that names no key"}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: d[:]},
			Signature:     sig,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  testKey
		want bool
	}{{"signing key", k, true}, {"other key", other, false}} {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Options{}, keyPolicy(tt.key.file))
			desc, f := bundleManifest(raw, "").build(t)
			r := mustVerify(t, v, "demo", desc, f)
			if r.IsSuccess != tt.want {
				t.Fatalf("IsSuccess = %v, want %v: %s", r.IsSuccess, tt.want, r.ErrorReason)
			}
		})
	}
}

// TestVerifyKeyDSSEBundle verifies what cosign sign --key writes with the
// new bundle format: a DSSE envelope of a cosign signature statement,
// signed with the key.
func TestVerifyKeyDSSEBundle(t *testing.T) {
	p256, ed, other := newKey(t, "ecdsa-p256"), newKey(t, "ed25519"), newKey(t, "ecdsa-p256")
	bundleFor := func(k testKey, subject []byte) []byte {
		body := statement(image.Digest, sigstoreSignV1Type)
		if subject != nil {
			body = subject
		}
		// The DSSE pre-authentication encoding (DSSE v1.0, "Protocol").
		pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(inTotoPayloadType), inTotoPayloadType, len(body), body)
		sig, err := base64.StdEncoding.DecodeString(k.sign(t, []byte(pae)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := protojson.Marshal(&protobundle.Bundle{
			MediaType: ArtifactTypeBundle,
			VerificationMaterial: &protobundle.VerificationMaterial{
				Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{}},
			},
			Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
				Payload: body, PayloadType: inTotoPayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tests := []struct {
		name           string
		signer, policy testKey
		subject        []byte
		want           bool
		reason         string
	}{
		{"ECDSA", p256, p256, nil, true, ""},
		{"Ed25519", ed, ed, nil, true, ""},
		{"wrong key", other, p256, nil, false, "could not verify envelope"},
		{"another image", p256, p256, statement(otherImage, sigstoreSignV1Type), false, "not about the image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, Options{}, keyPolicy(tt.policy.file))
			desc, f := bundleManifest(bundleFor(tt.signer, tt.subject), "").build(t)
			r := mustVerify(t, v, "demo", desc, f)
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("IsSuccess = %v, ErrorReason %q; want %v, %q", r.IsSuccess, r.ErrorReason, tt.want, tt.reason)
			}
		})
	}
}
