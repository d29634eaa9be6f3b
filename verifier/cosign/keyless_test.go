package cosign

import (
	"strings"
	"testing"
	"time"
)

func TestVerifyKeyless(t *testing.T) {
	s := newSigstore(t)
	untrusted := newSigstore(t)
	otherSigning, err := s.Sign(signerIdentity, signerIssuer, []byte("another payload"))
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(time.Hour) }
	noTlog := func(p *TrustPolicy) { p.TLogVerify = ptr(false) }
	keyless := func(k Keyless) func(*TrustPolicy) {
		return func(p *TrustPolicy) { k.CTLogVerify = ptr(false); p.Keyless = &k }
	}
	tests := []struct {
		name     string
		sigstore *sigstore // signs; nil means s
		identity string    // of the certificate; empty means signerIdentity
		issuer   string
		parts    legacyParts
		policy   []func(*TrustPolicy)
		now      func() time.Time
		want     bool
		reason   string
	}{
		{name: "identity and issuer", want: true},
		{name: "no chain annotation", parts: legacyParts{noChain: true}, want: true},
		{name: "other identity", identity: "intruder@example.com", reason: "expected SAN value"},
		{name: "other issuer", issuer: "https://other.example.com", reason: "expected issuer value"},
		{name: "identity regexp", identity: "ci@example.com",
			policy: []func(*TrustPolicy){keyless(Keyless{CertificateIdentityRegExp: `^.*@example\.com$`, CertificateOIDCIssuer: signerIssuer})}, want: true},
		{name: "identity regexp mismatch", identity: "ci@example.org",
			policy: []func(*TrustPolicy){keyless(Keyless{CertificateIdentityRegExp: `^.*@example\.com$`, CertificateOIDCIssuer: signerIssuer})},
			reason: "expected SAN value to match regex"},
		{name: "issuer regexp",
			policy: []func(*TrustPolicy){keyless(Keyless{CertificateIdentity: signerIdentity, CertificateOIDCIssuerRegExp: `^https://issuer\.`})}, want: true},
		{name: "issuer regexp mismatch",
			policy: []func(*TrustPolicy){keyless(Keyless{CertificateIdentity: signerIdentity, CertificateOIDCIssuerRegExp: `^https://accounts\.`})},
			reason: "expected issuer value to match regex"},
		{name: "untrusted Fulcio and Rekor", sigstore: untrusted, reason: "not enough verified log entries"},
		{name: "untrusted Fulcio, no log required", sigstore: untrusted, policy: []func(*TrustPolicy){noTlog},
			reason: "leaf certificate verification failed"},
		{name: "log entry required but missing", parts: legacyParts{noBundle: true}, reason: "not enough verified log entries"},
		{name: "log entry of another signature", parts: legacyParts{bundleFrom: otherSigning}, reason: "transparency log"},
		{name: "expired certificate with log entry", now: later, want: true},
		{name: "expired certificate without log entry", now: later, parts: legacyParts{noBundle: true},
			policy: []func(*TrustPolicy){noTlog}, reason: "no transparency log entry or timestamp shows the signature was made while it was valid"},
		{name: "expired certificate with timestamp", now: later, parts: legacyParts{noBundle: true, timestamp: true},
			policy: []func(*TrustPolicy){noTlog}, want: true},
		{name: "valid certificate without log entry", parts: legacyParts{noBundle: true}, policy: []func(*TrustPolicy){noTlog}, want: true},
		{name: "SCT required", policy: []func(*TrustPolicy){func(p *TrustPolicy) { p.Keyless.CTLogVerify = nil }},
			reason: "signed certificate timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer := s
			if tt.sigstore != nil {
				signer = tt.sigstore
			}
			identity, issuer := signerIdentity, signerIssuer
			if tt.identity != "" {
				identity = tt.identity
			}
			if tt.issuer != "" {
				issuer = tt.issuer
			}
			v := newVerifier(t, Options{Now: tt.now}, s.keylessPolicy(tt.policy...))
			desc, f := signer.keylessSigned(t, identity, issuer, tt.parts).build(t)
			r := mustVerify(t, v, "demo", desc, f)
			if r.IsSuccess != tt.want {
				t.Fatalf("IsSuccess = %v, want %v: %s", r.IsSuccess, tt.want, r.ErrorReason)
			}
			if !strings.Contains(r.ErrorReason, tt.reason) {
				t.Errorf("ErrorReason = %q, want it to contain %q", r.ErrorReason, tt.reason)
			}
			if !tt.want {
				return
			}
			vr := signatures(t, r)[0].Verifications[0]
			if vr.Identity != identity || vr.Issuer != issuer || vr.KeyInformation != nil {
				t.Errorf("verification %+v does not name the identity", vr)
			}
			tlog := tt.parts.noBundle == false
			if vr.BundleVerified != tlog || signatures(t, r)[0].BundleVerified != tlog {
				t.Errorf("bundleVerified = %v, want %v", vr.BundleVerified, tlog)
			}
		})
	}

	t.Run("key-signed layer under a keyless policy", func(t *testing.T) {
		k := newKey(t, "ecdsa-p256")
		v := newVerifier(t, Options{}, s.keylessPolicy())
		desc, f := keySigned(t, k).build(t)
		r := mustVerify(t, v, "demo", desc, f)
		if r.IsSuccess || !strings.Contains(r.ErrorReason, "no Fulcio certificate") {
			t.Fatalf("report %+v", r)
		}
	})

	t.Run("keyless layer under a key policy", func(t *testing.T) {
		k := newKey(t, "ecdsa-p256")
		v := newVerifier(t, Options{}, keyPolicy(k.file))
		desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
		if r := mustVerify(t, v, "demo", desc, f); r.IsSuccess {
			t.Fatalf("report %+v", r)
		}
	})
}

// TestVerifyKeyTransparencyLog verifies a key-signed layer whose
// hashedrekord entry is in the virtual Sigstore's log.
func TestVerifyKeyTransparencyLog(t *testing.T) {
	s, other := newSigstore(t), newSigstore(t)
	k := newKey(t, "ecdsa-p256")
	p := simpleSigningPayload(t, image.Digest)
	sig := k.sign(t, p)
	tests := []struct {
		name   string
		bundle string
		want   bool
		reason string
	}{
		{"log entry", s.rekorBundleAnnotation(t, s.hashedRekord(t, k, p, sig)), true, ""},
		{"no log entry", "", false, "not enough verified log entries"},
		{"entry of an untrusted log", other.rekorBundleAnnotation(t, other.hashedRekord(t, k, p, sig)), false, "not enough verified log entries"},
		{"entry of another payload", s.rekorBundleAnnotation(t, s.hashedRekord(t, k, []byte("other"), k.sign(t, []byte("other")))), false,
			"transparency log"},
		{"malformed annotation", "{", false, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := keyPolicy(k.file)
			policy.TrustedRootFile = s.rootFile
			policy.TLogVerify = nil // the default: on
			v := newVerifier(t, Options{}, policy)
			m := &sigManifest{artifactType: ArtifactTypeSignature}
			a := map[string]string{AnnotationSignature: sig}
			if tt.bundle != "" {
				a[AnnotationBundle] = tt.bundle
			}
			m.add(MediaTypeSimpleSigning, p, a)
			desc, f := m.build(t)
			r := mustVerify(t, v, "demo", desc, f)
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("IsSuccess = %v, ErrorReason %q; want %v, %q", r.IsSuccess, r.ErrorReason, tt.want, tt.reason)
			}
			if tt.want && !signatures(t, r)[0].BundleVerified {
				t.Error("bundleVerified is false")
			}
		})
	}
}
