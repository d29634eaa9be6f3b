package cosign

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
)

func TestVerifyKeys(t *testing.T) {
	p256, rsa3072, ed := newKey(t, "ecdsa-p256"), newKey(t, "rsa-3072"), newKey(t, "ed25519")
	p384, other := newKey(t, "ecdsa-p384"), newKey(t, "ecdsa-p256")
	tests := []struct {
		name    string
		signers []testKey
		trusted []testKey
		want    bool
		reason  string
	}{
		{"ECDSA P-256", []testKey{p256}, []testKey{p256}, true, ""},
		{"RSA 3072", []testKey{rsa3072}, []testKey{rsa3072}, true, ""},
		{"Ed25519", []testKey{ed}, []testKey{ed}, true, ""},
		{"ECDSA P-384 signed with SHA-256", []testKey{p384}, []testKey{p384}, true, ""},
		{"one of several keys", []testKey{rsa3072}, []testKey{p256, ed, rsa3072}, true, ""},
		{"one of several signatures", []testKey{other, ed}, []testKey{ed}, true, ""},
		{"wrong key", []testKey{other}, []testKey{p256}, false, "failed to verify signature"},
		{"no trusted signature among several", []testKey{other, p384}, []testKey{p256, ed}, false, "no key of trust policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []string
			for _, k := range tt.trusted {
				files = append(files, k.file)
			}
			v := newVerifier(t, Options{}, keyPolicy(files...))
			desc, f := keySigned(t, tt.signers...).build(t)
			r := mustVerify(t, v, "demo", desc, f)
			if r.IsSuccess != tt.want {
				t.Fatalf("IsSuccess = %v, want %v: %+v", r.IsSuccess, tt.want, r)
			}
			if !strings.Contains(r.ErrorReason, tt.reason) {
				t.Errorf("ErrorReason = %q, want it to contain %q", r.ErrorReason, tt.reason)
			}
			sigs := signatures(t, r)
			if len(sigs) != len(tt.signers) {
				t.Fatalf("%d signature results, want %d", len(sigs), len(tt.signers))
			}
			for _, s := range sigs {
				if len(s.Verifications) != len(tt.trusted) {
					t.Errorf("%d verifications, want one per key (%d)", len(s.Verifications), len(tt.trusted))
				}
				// Each signature blob is fetched once, whatever the number of keys.
				if n := f.fetched[s.SignatureDigest]; n != 1 {
					t.Errorf("signature %s fetched %d times", s.SignatureDigest, n)
				}
			}
			if r.Extensions["trustPolicy"] != "demo" {
				t.Errorf("trustPolicy = %v", r.Extensions["trustPolicy"])
			}
		})
	}
}

func TestVerifyPayload(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	good := simpleSigningPayload(t, image.Digest)
	tests := []struct {
		name     string
		payload  []byte
		signed   []byte // what the signature is over; nil means payload
		annotate map[string]string
		reason   string
	}{
		{"tampered payload", []byte(strings.Replace(string(good), "127.0.0.1:5000/demo", "127.0.0.1:5000/evil", 1)), good, nil,
			"failed to verify signature"},
		{"payload naming another image", simpleSigningPayload(t, otherImage), nil, nil,
			"the signature is for image " + otherImage.String() + ", not for " + image.Digest.String()},
		{"not a simple signing payload", []byte(`{"hello":"world"}`), nil, nil, "payload type"},
		{"not JSON", []byte("garbage"), nil, nil, "not a simple signing payload"},
		{"no signature annotation", good, nil, map[string]string{}, "has no dev.cosignproject.cosign/signature"},
		{"signature not base64", good, nil, map[string]string{AnnotationSignature: "!!"}, "not a base64 signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed := tt.signed
			if signed == nil {
				signed = tt.payload
			}
			annotations := tt.annotate
			if annotations == nil {
				annotations = map[string]string{AnnotationSignature: k.sign(t, signed)}
			}
			m := &sigManifest{artifactType: ArtifactTypeSignature}
			m.add(MediaTypeSimpleSigning, tt.payload, annotations)
			desc, f := m.build(t)
			r := mustVerify(t, newVerifier(t, Options{}, keyPolicy(k.file)), "demo", desc, f)
			if r.IsSuccess {
				t.Fatalf("verified: %+v", r)
			}
			if !strings.Contains(r.ErrorReason, tt.reason) {
				t.Errorf("ErrorReason = %q, want it to contain %q", r.ErrorReason, tt.reason)
			}
			if r.Remediation == "" || !strings.HasPrefix(r.Message, "signature verification failed") {
				t.Errorf("report lacks message or remediation: %+v", r)
			}
		})
	}
}

func TestVerifyManifestProblems(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	v := newVerifier(t, Options{}, keyPolicy(k.file))
	p := simpleSigningPayload(t, image.Digest)
	sig := map[string]string{AnnotationSignature: k.sign(t, p)}
	tests := []struct {
		name   string
		edit   func(*sigManifest)
		reason string
	}{
		{"unknown layer type", func(m *sigManifest) { m.add("application/octet-stream", p, sig) }, "neither a cosign simple signing payload"},
		{"oversized layer", func(m *sigManifest) {
			m.add(MediaTypeSimpleSigning, p, sig)
			m.layers[0].Size = maxPayloadSize + 1
		}, "not between 1 and"},
		{"no layers", func(*sigManifest) {}, "manifest has no layers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &sigManifest{artifactType: ArtifactTypeSignature}
			tt.edit(m)
			desc, f := m.build(t)
			r := mustVerify(t, v, "demo", desc, f)
			if r.IsSuccess || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("report %+v, want a failure mentioning %q", r, tt.reason)
			}
			for d, n := range f.fetched {
				if d != desc.Digest && n > 0 {
					t.Errorf("fetched %s, which should have been refused from its descriptor", d)
				}
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	v := newVerifier(t, Options{}, keyPolicy(k.file))

	t.Run("too many signatures", func(t *testing.T) {
		m := &sigManifest{artifactType: ArtifactTypeSignature}
		p := simpleSigningPayload(t, image.Digest)
		for range 200 {
			m.add(MediaTypeSimpleSigning, p, map[string]string{AnnotationSignature: "c2ln"})
		}
		desc, f := m.build(t)
		_, err := v.Verify(context.Background(), subjectIn("demo"), desc, f)
		if !errors.Is(err, errdef.ErrSizeExceedsLimit) || !strings.Contains(err.Error(), "200 signatures, more than 100") {
			t.Fatalf("err = %v, want ErrSizeExceedsLimit naming the counts", err)
		}
		if len(f.fetched) != 1 {
			t.Errorf("fetched %d digests; only the manifest should be read", len(f.fetched))
		}
	})

	t.Run("oversized manifest", func(t *testing.T) {
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: maxManifestSize + 1}
		f := newFetcher()
		_, err := v.Verify(context.Background(), subjectIn("demo"), desc, f)
		if !errors.Is(err, errdef.ErrSizeExceedsLimit) || len(f.fetched) != 0 {
			t.Fatalf("err = %v, fetched %v", err, f.fetched)
		}
	})

	t.Run("blob fetch fails", func(t *testing.T) {
		desc, f := keySigned(t, k).build(t)
		f.fail = errdef.ErrRegistryUnavailable
		r, err := v.Verify(context.Background(), subjectIn("demo"), desc, f)
		if !errors.Is(err, errdef.ErrRegistryUnavailable) {
			t.Fatalf("err = %v (report %+v), want the fetch error: could not verify is not unsigned", err, r)
		}
	})

	t.Run("manifest fetch fails", func(t *testing.T) {
		desc, _ := keySigned(t, k).build(t)
		_, err := v.Verify(context.Background(), subjectIn("demo"), desc, newFetcher())
		if !errors.Is(err, errdef.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("context canceled", func(t *testing.T) {
		desc, f := keySigned(t, k).build(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := v.Verify(ctx, subjectIn("demo"), desc, f); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestVerifyScopes(t *testing.T) {
	a, b, g := newKey(t, "ecdsa-p256"), newKey(t, "ecdsa-p256"), newKey(t, "ecdsa-p256")
	v := newVerifier(t, Options{},
		TrustPolicy{Name: "team", Scopes: []string{"127.0.0.1:5000/team/*"}, Keys: []KeyRef{{File: a.file}}, TLogVerify: ptr(false)},
		TrustPolicy{Name: "app", Scopes: []string{"127.0.0.1:5000/app"}, Keys: []KeyRef{{File: b.file}}, TLogVerify: ptr(false)},
		TrustPolicy{Name: "global", Scopes: []string{"*"}, Keys: []KeyRef{{File: g.file}}, TLogVerify: ptr(false)},
	)
	tests := []struct {
		repo   string
		signer testKey
		policy string
		want   bool
	}{
		{"team/web", a, "team", true},
		{"team/web/deep", a, "team", true},
		{"team/web", g, "team", false},
		{"app", b, "app", true},
		{"app", a, "app", false},
		{"app/sub", g, "global", true},
		{"team", g, "global", true},
		{"team-evil/web", g, "global", true},
		{"team-evil/web", a, "global", false},
	}
	for _, tt := range tests {
		t.Run(tt.repo, func(t *testing.T) {
			desc, f := keySigned(t, tt.signer).build(t)
			r := mustVerify(t, v, tt.repo, desc, f)
			if r.IsSuccess != tt.want || r.Extensions["trustPolicy"] != tt.policy {
				t.Fatalf("IsSuccess %v under %v, want %v under %q: %s", r.IsSuccess, r.Extensions["trustPolicy"], tt.want, tt.policy, r.ErrorReason)
			}
		})
	}

	t.Run("no policy", func(t *testing.T) {
		v := newVerifier(t, Options{}, keyPolicy(a.file))
		desc, f := keySigned(t, a).build(t)
		r := mustVerify(t, v, "elsewhere", desc, f)
		if r.IsSuccess || !strings.Contains(r.ErrorReason, "no trust policy applies to 127.0.0.1:5000/elsewhere") {
			t.Fatalf("report %+v", r)
		}
	})
}

func TestVerifyLegacyKeyConfig(t *testing.T) {
	k := newKey(t, "ed25519")
	v, err := New(Config{Name: "cosign", ArtifactTypes: List{ArtifactTypeSignature}, Settings: Settings{Key: k.file}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	desc, f := keySigned(t, k).build(t)
	r := mustVerify(t, v, "any/repo", desc, f)
	if !r.IsSuccess {
		t.Fatalf("report %+v", r)
	}
	if !v.CanVerify(ArtifactTypeSignature) || v.CanVerify(ArtifactTypeBundle) {
		t.Error("CanVerify does not follow artifactTypes")
	}
}

// TestExtensionsJSON pins the JSON shape of the extensions: Ratify v1's
// field names.
func TestExtensionsJSON(t *testing.T) {
	k, other := newKey(t, "ecdsa-p256"), newKey(t, "ecdsa-p256")
	v := newVerifier(t, Options{}, keyPolicy(k.file))
	desc, f := keySigned(t, k, other).build(t)
	r := mustVerify(t, v, "demo", desc, f)
	raw, err := json.Marshal(r.Extensions)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		TrustPolicy string `json:"trustPolicy"`
		Signatures  []struct {
			Signature       string `json:"signature"`
			SignatureDigest string `json:"signatureDigest"`
			IsSuccess       *bool  `json:"isSuccess"`
			BundleVerified  *bool  `json:"bundleVerified"`
			Error           string `json:"error"`
			Verifications   []struct {
				IsSuccess      *bool `json:"isSuccess"`
				BundleVerified *bool `json:"bundleVerified"`
				KeyInformation struct {
					Provider string `json:"provider"`
					Name     string `json:"name"`
				} `json:"keyInformation"`
				Error   string   `json:"error"`
				Summary []string `json:"summary"`
			} `json:"verifications"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.TrustPolicy != "demo" || len(got.Signatures) != 2 {
		t.Fatalf("extensions %s", raw)
	}
	ok, bad := got.Signatures[0], got.Signatures[1]
	if ok.IsSuccess == nil || !*ok.IsSuccess || ok.BundleVerified == nil || *ok.BundleVerified || ok.Signature == "" ||
		!strings.HasPrefix(ok.SignatureDigest, "sha256:") || len(ok.Verifications) != 1 || ok.Verifications[0].KeyInformation.Provider != "file" ||
		ok.Verifications[0].KeyInformation.Name != k.file || len(ok.Verifications[0].Summary) == 0 {
		t.Errorf("verified signature: %s", raw)
	}
	if *bad.IsSuccess || bad.Error == "" || bad.Verifications[0].Error == "" {
		t.Errorf("failed signature: %s", raw)
	}
}
