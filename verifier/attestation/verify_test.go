package attestation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
)

// slsaPolicy accepts GitHub-built provenance of sourceRepo at sourceRef.
var slsaPolicy = Predicate{PredicateType: PredicateSLSAProvenanceV1,
	SLSA: &SLSA{BuilderID: githubBuilder, SourceRepository: sourceRepo, SourceRef: sourceRef}}

// TestVerifyKeys verifies bare DSSE envelopes and key-signed bundles with
// keys of each accepted algorithm, and what must fail.
func TestVerifyKeys(t *testing.T) {
	good := statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef))
	k256, other := newKey(t, "ecdsa-p256"), newKey(t, "ecdsa-p256")
	tampered := func(t testing.TB, env []byte) []byte {
		var m map[string]any
		if err := json.Unmarshal(env, &m); err != nil {
			t.Fatal(err)
		}
		evil := statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, "https://github.com/evil/app", sourceRef))
		m["payload"] = base64.StdEncoding.EncodeToString(evil)
		raw, _ := json.Marshal(m)
		return raw
	}
	tests := []struct {
		name    string
		trusted []string
		build   func(t *testing.T) (ocispec.Descriptor, *memFetcher)
		want    bool
		reason  string
	}{
		{"ECDSA P-256 envelope", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, k256.envelope(t, good))
		}, true, ""},
		{"ECDSA P-256 bundle", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return bundled(t, k256.bundle(t, good))
		}, true, ""},
		{"untrusted key", []string{other.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, k256.envelope(t, good))
		}, false, "does not verify with the trusted key"},
		{"untrusted key, bundle", []string{other.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return bundled(t, k256.bundle(t, good))
		}, false, "does not verify with the trusted key"},
		{"second of two keys", []string{other.file, k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, k256.envelope(t, good))
		}, true, ""},
		{"tampered payload", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, tampered(t, k256.envelope(t, good)))
		}, false, "does not verify"},
		{"statement about another image", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, k256.envelope(t, statementJSON(t, otherImage, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef))))
		}, false, "not about the image"},
		{"bundle about another image", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return bundled(t, k256.bundle(t, statementJSON(t, otherImage, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef))))
		}, false, "not about the image"},
		{"unsigned statement", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return referrer(t, ArtifactTypeInToto, layer{ArtifactTypeInToto, good})
		}, false, "not a DSSE envelope"},
		{"cosign signature statement", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return bundled(t, k256.bundle(t, statementJSON(t, image.Digest, predicateCosignSign, map[string]any{})))
		}, false, "cosign signature"},
		{"not a statement", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, k256.envelope(t, []byte(`{"hello":"world"}`)))
		}, false, "statement type"},
		{"other layer media type", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return referrer(t, ArtifactTypeInToto, layer{"application/json", k256.envelope(t, good)})
		}, false, "neither a Sigstore bundle nor a DSSE envelope"},
		{"one good envelope of two", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, other.envelope(t, good), k256.envelope(t, good))
		}, true, ""},
		{"no layers", []string{k256.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return referrer(t, ArtifactTypeInToto)
		}, false, "no layers"},
	}
	for _, kind := range []string{"ecdsa-p384", "ed25519", "rsa-3072"} {
		k := newKey(t, kind)
		tests = append(tests, struct {
			name    string
			trusted []string
			build   func(t *testing.T) (ocispec.Descriptor, *memFetcher)
			want    bool
			reason  string
		}{kind + " envelope", []string{k.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return inToto(t, k.envelope(t, good))
		}, true, ""}, struct {
			name    string
			trusted []string
			build   func(t *testing.T) (ocispec.Descriptor, *memFetcher)
			want    bool
			reason  string
		}{kind + " bundle", []string{k.file}, func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return bundled(t, k.bundle(t, good))
		}, true, ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, keyConfig(tt.trusted, slsaPolicy), Options{})
			desc, f := tt.build(t)
			r := mustVerify(t, v, desc, f)
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("IsSuccess = %v, ErrorReason %q; want %v, %q", r.IsSuccess, r.ErrorReason, tt.want, tt.reason)
			}
			if !tt.want {
				return
			}
			var ok *StatementResult
			for _, s := range statements(t, r) {
				if s.IsSuccess {
					ok = &s
				}
			}
			if ok == nil || ok.Signer == nil || ok.Signer.Key == nil || ok.Signer.Key.Provider != "file" || ok.Policy != PredicateSLSAProvenanceV1 ||
				len(ok.Checks) != 3 {
				t.Fatalf("statement %+v", ok)
			}
			if m := r.Extensions["matchedPredicates"].([]string); len(m) != 1 || m[0] != PredicateSLSAProvenanceV1 {
				t.Errorf("matchedPredicates = %v", m)
			}
		})
	}
}

func TestVerifySLSA(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	generator := map[string]any{ // the slsa-github-generator's shape, without workflow parameters
		"buildDefinition": map[string]any{
			"buildType":            "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
			"externalParameters":   map[string]any{"inputs": map[string]any{}},
			"resolvedDependencies": []any{map[string]any{"uri": "git+https://github.com/example/app@refs/tags/v1.0.0"}},
		},
		"runDetails": map[string]any{"builder": map[string]any{
			"id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0"}},
	}
	tests := []struct {
		name      string
		predicate any
		policy    SLSA
		want      bool
		reason    string
	}{
		{"all fields", githubProvenance(githubBuilder, sourceRepo, sourceRef), SLSA{githubBuilder, sourceRepo, sourceRef}, true, ""},
		{"builder only", githubProvenance(githubBuilder, sourceRepo, sourceRef), SLSA{BuilderID: githubBuilder}, true, ""},
		{"other builder", githubProvenance("https://github.com/actions/runner/self-hosted", sourceRepo, sourceRef),
			SLSA{BuilderID: githubBuilder}, false, `builder "https://github.com/actions/runner/self-hosted" is not`},
		{"builder prefix is not enough", githubProvenance(githubBuilder+"-x", sourceRepo, sourceRef), SLSA{BuilderID: githubBuilder}, false, "is not"},
		{"other repository", githubProvenance(githubBuilder, "https://github.com/evil/app", sourceRef),
			SLSA{SourceRepository: sourceRepo}, false, "source repository"},
		{"repository without scheme", githubProvenance(githubBuilder, sourceRepo, sourceRef), SLSA{SourceRepository: "github.com/example/app"}, true, ""},
		{"repository with .git and git+", githubProvenance(githubBuilder, "git+https://GitHub.com/example/app.git", sourceRef),
			SLSA{SourceRepository: sourceRepo + "/"}, true, ""},
		{"repository path case matters", githubProvenance(githubBuilder, "https://github.com/Example/App", sourceRef),
			SLSA{SourceRepository: sourceRepo}, false, "source repository"},
		{"repository of another host", githubProvenance(githubBuilder, "https://gitlab.com/example/app", sourceRef),
			SLSA{SourceRepository: sourceRepo}, false, "source repository"},
		{"other ref", githubProvenance(githubBuilder, sourceRepo, "refs/heads/dev"), SLSA{SourceRef: sourceRef}, false, `source ref "refs/heads/dev"`},
		{"short ref is not the ref", githubProvenance(githubBuilder, sourceRepo, sourceRef), SLSA{SourceRef: "main"}, false, "source ref"},
		{"resolved dependency", generator, SLSA{SourceRepository: sourceRepo, SourceRef: "refs/tags/v1.0.0"}, true, ""},
		{"resolved dependency, other ref", generator, SLSA{SourceRef: "refs/heads/main"}, false, "resolvedDependencies[0].uri"},
		{"no source", map[string]any{"runDetails": map[string]any{"builder": map[string]any{"id": githubBuilder}}},
			SLSA{SourceRepository: sourceRepo}, false, "names no source repository"},
		{"not provenance", []int{1}, SLSA{BuilderID: githubBuilder}, false, "not SLSA provenance v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, keyConfig([]string{k.file}, Predicate{PredicateType: PredicateSLSAProvenanceV1, SLSA: &tt.policy}), Options{})
			desc, f := inToto(t, k.envelope(t, statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, tt.predicate)))
			r := mustVerify(t, v, desc, f)
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("IsSuccess = %v, ErrorReason %q; want %v, %q", r.IsSuccess, r.ErrorReason, tt.want, tt.reason)
			}
		})
	}
}

// TestVerifyPredicates checks which predicate policy applies to a
// statement.
func TestVerifyPredicates(t *testing.T) {
	k := newKey(t, "ed25519")
	sbom := statementJSON(t, image.Digest, "https://spdx.dev/Document/v2.3", map[string]any{"spdxVersion": "SPDX-2.3"})
	prov := statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, githubProvenance("https://builder.example", sourceRepo, sourceRef))
	tests := []struct {
		name       string
		predicates []Predicate
		payload    []byte
		want       bool
		policy     string
		reason     string
	}{
		{"exact type, no checks", []Predicate{{PredicateType: "https://spdx.dev/Document/v2.3"}}, sbom, true, "https://spdx.dev/Document/v2.3", ""},
		{"any type", []Predicate{{PredicateType: "*"}}, sbom, true, "*", ""},
		{"exact type before any", []Predicate{{PredicateType: "*"}, slsaPolicy}, prov, false, PredicateSLSAProvenanceV1, "builder"},
		{"no policy for the type", []Predicate{slsaPolicy}, sbom, false, "", `no predicate policy accepts predicate type "https://spdx.dev/Document/v2.3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, keyConfig([]string{k.file}, tt.predicates...), Options{})
			desc, f := inToto(t, k.envelope(t, tt.payload))
			r := mustVerify(t, v, desc, f)
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) || statements(t, r)[0].Policy != tt.policy {
				t.Fatalf("report %+v; want %v under %q, %q", r, tt.want, tt.policy, tt.reason)
			}
		})
	}
}

// failingProvider is a key management provider whose source is down.
type failingProvider struct{}

func (failingProvider) Material(context.Context) (keys.Material, error) {
	return keys.Material{}, errors.New("vault unreachable")
}
func (failingProvider) Status() keys.Status { return keys.Status{} }

func TestVerifyKeyProviders(t *testing.T) {
	k, old := newKey(t, "ecdsa-p256"), newKey(t, "ecdsa-p256")
	provider := keys.NewStatic(keys.Material{Keys: []keys.PublicKey{
		{Key: old.pub, Properties: keys.Properties{Name: "attest", Version: "v1"}},
		{Key: k.pub, Properties: keys.Properties{Name: "attest", Version: "v2"}},
	}}, time.Now())
	opts := Options{KeyProviders: map[string]keys.Provider{"vault": provider, "down": failingProvider{}}}
	payload := statementJSON(t, image.Digest, "https://example.com/predicate/v1", map[string]any{})
	desc, f := inToto(t, k.envelope(t, payload))
	tests := []struct {
		name   string
		ref    KeyRef
		want   bool
		target error
	}{
		{"every key", KeyRef{Provider: "vault"}, true, nil},
		{"named key", KeyRef{Provider: "vault", Name: "attest"}, true, nil},
		{"signing version", KeyRef{Provider: "vault", Name: "attest", Version: "v2"}, true, nil},
		{"other version", KeyRef{Provider: "vault", Name: "attest", Version: "v1"}, false, nil},
		{"missing key", KeyRef{Provider: "vault", Name: "gone"}, false, errdef.ErrTrustMaterialUnavailable},
		{"provider down", KeyRef{Provider: "down"}, false, errdef.ErrTrustMaterialUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Settings: Settings{Keys: []KeyRef{tt.ref}, Predicates: []Predicate{{PredicateType: "*"}}}}
			v := newVerifier(t, cfg, opts)
			r, err := v.Verify(context.Background(), subject, desc, f)
			if tt.target != nil {
				if !errors.Is(err, tt.target) {
					t.Fatalf("Verify = %+v, %v; want %v", r, err, tt.target)
				}
				return
			}
			if err != nil || r.IsSuccess != tt.want {
				t.Fatalf("Verify = %+v, %v; want %v", r, err, tt.want)
			}
			if tt.want {
				if s := statements(t, r)[0].Signer.Key; s.Provider != "vault" || s.Version != "v2" {
					t.Errorf("signer %+v", s)
				}
			}
		})
	}
	if _, err := New(Config{Settings: Settings{Keys: []KeyRef{{Provider: "nowhere"}}, Predicates: []Predicate{{PredicateType: "*"}}}}, opts); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("New with an undeclared provider = %v", err)
	}
}

// TestVerifyNoVerdict checks what makes Verify return an error rather
// than a report.
func TestVerifyNoVerdict(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	env := k.envelope(t, statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef)))
	v := newVerifier(t, keyConfig([]string{k.file}, slsaPolicy), Options{})
	many := make([][]byte, MaxEnvelopes+1)
	for i := range many {
		many[i] = env
	}
	tests := []struct {
		name   string
		build  func(t *testing.T) (ocispec.Descriptor, *memFetcher)
		target error
	}{
		{"too many envelopes", func(t *testing.T) (ocispec.Descriptor, *memFetcher) { return inToto(t, many...) }, errdef.ErrSizeExceedsLimit},
		{"oversized manifest", func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			d, f := inToto(t, env)
			d.Size = maxManifestSize + 1
			return d, f
		}, errdef.ErrSizeExceedsLimit},
		{"envelope not found", func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			d, f := inToto(t, env)
			delete(f.content, digest.FromBytes(env))
			return d, f
		}, errdef.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, f := tt.build(t)
			if r, err := v.Verify(context.Background(), subject, d, f); !errors.Is(err, tt.target) {
				t.Fatalf("Verify = %+v, %v; want %v", r, err, tt.target)
			}
		})
	}
}

func TestVerifierIdentity(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	v := newVerifier(t, keyConfig([]string{k.file}, slsaPolicy), Options{})
	if v.Name() != "attestation-verifier" || v.Type() != VerifierType {
		t.Errorf("verifier %s/%s", v.Name(), v.Type())
	}
	for _, at := range DefaultArtifactTypes {
		if !v.CanVerify(at) {
			t.Errorf("does not handle %s by default", at)
		}
	}
	if v.CanVerify("application/vnd.dev.cosign.artifact.sig.v1+json") {
		t.Error("handles cosign signatures")
	}
	cfg := keyConfig([]string{k.file}, slsaPolicy)
	cfg.ArtifactTypes, cfg.NestedReferences = List{ArtifactTypeInToto}, List{"application/vnd.cncf.notary.signature"}
	v = newVerifier(t, cfg, Options{})
	if v.CanVerify(ArtifactTypeBundle) || len(v.NestedReferences()) != 1 {
		t.Errorf("configured types not kept")
	}
}

func TestVerifyConcurrent(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	v := newVerifier(t, keyConfig([]string{k.file}, slsaPolicy, Predicate{PredicateType: "https://example.com/vuln/v1",
		Rego: "package ratify.attestation\nallow if input.statement.predicate.critical == 0\n"}), Options{})
	good, gf := inToto(t, k.envelope(t, statementJSON(t, image.Digest, "https://example.com/vuln/v1", map[string]int{"critical": 0})))
	bad, bf := inToto(t, k.envelope(t, statementJSON(t, image.Digest, "https://example.com/vuln/v1", map[string]int{"critical": 2})))
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			d, f, want := good, gf, true
			if i%2 == 1 {
				d, f, want = bad, bf, false
			}
			r, err := v.Verify(context.Background(), subject, d, f)
			if err == nil && r.IsSuccess != want {
				err = fmt.Errorf("IsSuccess = %v, want %v: %s", r.IsSuccess, want, r.ErrorReason)
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
