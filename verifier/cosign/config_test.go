package cosign

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
)

func TestConfigDecode(t *testing.T) {
	raw := `{"name":"cosign-verifier","type":"cosign","artifactTypes":"application/vnd.dev.cosign.artifact.sig.v1+json, application/vnd.dev.sigstore.bundle.v0.3+json",
	 "trustPolicies":[{"name":"p1","version":"1.0.0","scopes":["registry.io/team/*"],
	   "keys":[{"provider":"kmp-name","name":"keyname","version":"v1"},{"file":"/path/cosign.pub"}],
	   "tLogVerify":false,"rekorURL":"https://rekor.example"},
	  {"name":"p2","scopes":["*"],"keyless":{"certificateIdentity":"me@example.com","certificateOIDCIssuerRegExp":"https://.*",
	   "ctLogVerify":false},"trustedRootFile":"root.json"}],
	 "tufMirror":"https://tuf.example/repo","tufRootFile":"tuf-root.json"}`
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := c.TrustPolicies[0]
	if len(c.ArtifactTypes) != 2 || c.ArtifactTypes[1] != ArtifactTypeBundle || p.Keys[0].Version != "v1" || p.Keys[1].File != "/path/cosign.pub" ||
		*p.TLogVerify || c.TrustPolicies[1].Keyless.CertificateOIDCIssuerRegExp != "https://.*" || *c.TrustPolicies[1].Keyless.CTLogVerify ||
		c.TUFMirror != "https://tuf.example/repo" || c.TUFRootFile != "tuf-root.json" {
		t.Fatalf("decoded %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	key := KeyRef{File: "cosign.pub"}
	keyless := &Keyless{CertificateIdentity: "me@example.com", CertificateOIDCIssuer: "https://issuer"}
	pol := func(name string, scopes ...string) TrustPolicy {
		return TrustPolicy{Name: name, Scopes: scopes, Keys: []KeyRef{key}}
	}
	tests := []struct {
		name        string
		cfg         Config
		path        string // the JSON path the error names; empty means valid
		unsupported bool
	}{
		{"single key", Config{Settings: Settings{Key: "cosign.pub"}}, "", false},
		{"policies", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/a/*"), pol("b", "r.io/b"), pol("g", "*")}}}, "", false},
		{"nothing trusted", Config{}, "trustPolicies", false},
		{"wrong type", Config{Type: "notation", Settings: Settings{Key: "k"}}, "type", false},
		{"key and policies", Config{Settings: Settings{Key: "k", TrustPolicies: []TrustPolicy{pol("a", "*")}}}, "key", false},
		{"legacy keyless", Config{Settings: Settings{RekorURL: "https://rekor"}}, "rekorURL", true},
		{"legacy tlog, root through TUF", Config{Settings: Settings{Key: "k", RekorURL: "https://rekor"}}, "", false},
		{"duplicate names", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/a"), pol("a", "r.io/b")}}}, "trustPolicies[1].name", false},
		{"bad version", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Version: "2.0.0", Scopes: []string{"*"}, Keys: []KeyRef{key}}}}},
			"trustPolicies[0].version", false},
		{"no scopes", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Keys: []KeyRef{key}}}}}, "trustPolicies[0].scopes", false},
		{"no keys", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"}}}}}, "trustPolicies[0]", false},
		{"keys and keyless", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"}, Keys: []KeyRef{key},
			Keyless: keyless, TrustedRootFile: "r.json"}}}}, "trustPolicies[0]", false},
		{"file and provider", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"},
			Keys: []KeyRef{{File: "f", Provider: "p"}}}}}}, "trustPolicies[0].keys[0]", false},
		{"version without name", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"},
			Keys: []KeyRef{{Provider: "p", Version: "1"}}}}}}, "trustPolicies[0].keys[0].version", false},
		{"tlog, root through TUF", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"},
			Keys: []KeyRef{key}, TLogVerify: ptr(true)}}}}, "", false},
		{"keyless, root through TUF", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"},
			Keyless: keyless}}}}, "", false},
		{"private TUF", Config{Settings: Settings{TUFMirror: "https://tuf.example", TUFRootFile: "root.json",
			TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"}, Keyless: keyless}}}}, "", false},
		{"private TUF, single key", Config{Settings: Settings{Key: "k", RekorURL: "https://rekor", TUFMirror: "http://127.0.0.1:8080/tuf",
			TUFRootFile: "root.json"}}, "", false},
		{"tufMirror without root", Config{Settings: Settings{TUFMirror: "https://tuf.example",
			TrustPolicies: []TrustPolicy{pol("a", "*")}}}, "tufRootFile", false},
		{"tufRootFile without mirror", Config{Settings: Settings{TUFRootFile: "root.json",
			TrustPolicies: []TrustPolicy{pol("a", "*")}}}, "tufRootFile", false},
		{"tufMirror not http", Config{Settings: Settings{TUFMirror: "file:///srv/tuf", TUFRootFile: "root.json",
			TrustPolicies: []TrustPolicy{pol("a", "*")}}}, "tufMirror", false},
		{"tufMirror relative", Config{Settings: Settings{TUFMirror: "tuf.example/repo", TUFRootFile: "root.json",
			TrustPolicies: []TrustPolicy{pol("a", "*")}}}, "tufMirror", false},
		{"keyless without identity", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"},
			Keyless: &Keyless{CertificateOIDCIssuer: "i"}, TrustedRootFile: "r"}}}}, "trustPolicies[0].keyless", false},
		{"keyless identity twice", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"},
			Keyless: &Keyless{CertificateIdentity: "a", CertificateIdentityRegExp: "b", CertificateOIDCIssuer: "i"}, TrustedRootFile: "r"}}}},
			"trustPolicies[0].keyless", false},
		{"bad regexp", Config{Settings: Settings{TrustPolicies: []TrustPolicy{{Name: "a", Scopes: []string{"*"},
			Keyless: &Keyless{CertificateIdentityRegExp: "(", CertificateOIDCIssuer: "i"}, TrustedRootFile: "r"}}}},
			"trustPolicies[0].keyless.certificateIdentityRegExp", false},
		{"global with others", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "*", "r.io/a")}}}, "trustPolicies[0].scopes", false},
		{"two globals", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "*"), pol("b", "*")}}}, "trustPolicies[1].scopes[0]", false},
		{"overlapping wildcards", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/team/*"), pol("b", "r.io/team/app/*")}}},
			"trustPolicies[1].scopes[0]", false},
		{"exact under wildcard", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/team/app"), pol("b", "r.io/*")}}},
			"trustPolicies[1].scopes[0]", false},
		{"same exact scope", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/app"), pol("b", "r.io/app")}}},
			"trustPolicies[1].scopes[0]", false},
		{"prefix wildcard", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io*")}}}, "trustPolicies[0].scopes[0]", false},
		{"partial segment wildcard", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/te*")}}}, "trustPolicies[0].scopes[0]", false},
		{"scope with tag", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/app:v1")}}}, "trustPolicies[0].scopes[0]", false},
		{"scope with digest", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "r.io/app@sha256:abc")}}}, "trustPolicies[0].scopes[0]", false},
		{"uppercase scope", Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol("a", "R.io/app")}}}, "trustPolicies[0].scopes[0]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), tt.path+":") {
				t.Fatalf("Validate = %v, want ErrInvalidConfig at %s", err, tt.path)
			}
			if errors.Is(err, errdef.ErrUnsupported) != tt.unsupported {
				t.Errorf("Validate = %v, ErrUnsupported should be %v", err, tt.unsupported)
			}
		})
	}
}

// TestConfigV1 decodes and validates trust policies as Ratify v1 users
// write them for the public Sigstore instance: no trusted root file.
func TestConfigV1(t *testing.T) {
	for _, raw := range []string{
		`{"name":"cosign","trustPolicies":[{"name":"p","scopes":["*"],"keys":[{"provider":"k"}],"tLogVerify":true}]}`,
		`{"name":"cosign","trustPolicies":[{"name":"p","version":"1.0.0","scopes":["*"],"keys":[{"provider":"k"}],"tLogVerify":true,
		  "rekorURL":"https://rekor.example"}]}`,
		`{"name":"cosign","trustPolicies":[{"name":"p","scopes":["*"],"keyless":{"certificateIdentity":"https://github.com/o/r/.github/workflows/w.yml@refs/heads/main",
		  "certificateOIDCIssuer":"https://token.actions.githubusercontent.com"}}]}`,
		`{"name":"cosign","key":"/etc/cosign.pub","rekorURL":"https://rekor.example"}`,
	} {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		var c Config
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestOverlapErrorNamesBoth(t *testing.T) {
	err := (&Config{Settings: Settings{TrustPolicies: []TrustPolicy{
		{Name: "team", Scopes: []string{"registry.io/team/*"}, Keys: []KeyRef{{File: "k"}}},
		{Name: "app", Scopes: []string{"registry.io/team/app"}, Keys: []KeyRef{{File: "k"}}},
	}}}).Validate()
	for _, want := range []string{`"registry.io/team/app"`, `"app"`, `"registry.io/team/*"`, `"team"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not name %s", err, want)
		}
	}
}

func TestScopeMatches(t *testing.T) {
	tests := []struct {
		scope, repo string
		want        bool
	}{
		{"registry.io/team/*", "registry.io/team/app", true},
		{"registry.io/team/*", "registry.io/team/app/sub", true},
		{"registry.io/team/*", "registry.io/team", false},
		{"registry.io/team/*", "registry.io/team-evil/app", false},
		{"registry.io/*", "registry.io.evil.com/app", false},
		{"registry.io/app", "registry.io/app", true},
		{"registry.io/app", "registry.io/app2", false},
		{"localhost:5000/*", "localhost:5000/x", true},
		{"*", "anything/at/all", true},
	}
	for _, tt := range tests {
		s, err := parseScope(tt.scope)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.matches(tt.repo); got != tt.want {
			t.Errorf("%q matches %q = %v, want %v", tt.scope, tt.repo, got, tt.want)
		}
	}
}

func TestNewKeyFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "garbage.pub")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		want string
	}{
		{"RSA 1024 refused", newKey(t, "rsa-1024").file, "1024-bit RSA key refused"},
		{"P-224 refused", newKey(t, "ecdsa-p224").file, "curve P-224 refused"},
		{"missing file", filepath.Join(dir, "missing.pub"), "no such file"},
		{"not PEM", notPEM, "no PEM certificate or public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Settings: Settings{TrustPolicies: []TrustPolicy{keyPolicy(tt.file)}}}, Options{})
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}

	t.Run("relative to base dir", func(t *testing.T) {
		k := newKey(t, "ecdsa-p256")
		v := newVerifier(t, Options{BaseDir: filepath.Dir(k.file)}, keyPolicy("cosign.pub"))
		desc, f := keySigned(t, k).build(t)
		if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess {
			t.Fatalf("report %+v", r)
		}
	})

	t.Run("unknown provider", func(t *testing.T) {
		p := TrustPolicy{Name: "a", Scopes: []string{"*"}, Keys: []KeyRef{{Provider: "vault"}}}
		_, err := New(Config{Settings: Settings{TrustPolicies: []TrustPolicy{p}}}, Options{})
		if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), `"vault" is not configured`) {
			t.Fatalf("New = %v", err)
		}
	})
}

// failingProvider is a key management provider whose source is down.
type failingProvider struct{}

func (failingProvider) Material(context.Context) (keys.Material, error) {
	return keys.Material{}, errors.New("vault unreachable")
}
func (failingProvider) Status() keys.Status { return keys.Status{} }

func TestKeyProviders(t *testing.T) {
	k1, k2, weak := newKey(t, "ecdsa-p256"), newKey(t, "rsa-3072"), newKey(t, "rsa-1024")
	static := keys.NewStatic(keys.Material{Keys: []keys.PublicKey{
		{Key: k1.pub, Properties: keys.Properties{Name: "signer", Version: "v1", Kind: keys.KindKey}},
		{Key: k2.pub, Properties: keys.Properties{Name: "signer", Version: "v2", Kind: keys.KindKey}},
		{Key: weak.pub, Properties: keys.Properties{Name: "legacy", Version: "v1", Kind: keys.KindKey}},
	}}, time.Now())
	opts := Options{KeyProviders: map[string]keys.Provider{"kmp": static, "down": failingProvider{}}}
	policy := func(refs ...KeyRef) TrustPolicy {
		return TrustPolicy{Name: "demo", Scopes: []string{"127.0.0.1:5000/demo"}, Keys: refs, TLogVerify: ptr(false)}
	}
	tests := []struct {
		name     string
		ref      KeyRef
		signer   testKey
		want     bool
		keys     int
		err      error
		contains string
	}{
		{"all keys", KeyRef{Provider: "kmp"}, k2, true, 3, nil, ""},
		{"named key, any version", KeyRef{Provider: "kmp", Name: "signer"}, k2, true, 2, nil, ""},
		{"named version", KeyRef{Provider: "kmp", Name: "signer", Version: "v1"}, k1, true, 1, nil, ""},
		{"other version", KeyRef{Provider: "kmp", Name: "signer", Version: "v1"}, k2, false, 1, nil, ""},
		{"refused key type", KeyRef{Provider: "kmp", Name: "legacy"}, k1, false, 1, nil, "1024-bit RSA key refused"},
		{"missing key", KeyRef{Provider: "kmp", Name: "gone"}, k1, false, 0, errdef.ErrTrustMaterialUnavailable, `does not serve key "gone"`},
		{"provider down", KeyRef{Provider: "down"}, k1, false, 0, errdef.ErrTrustMaterialUnavailable, "vault unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, opts, policy(tt.ref))
			desc, f := keySigned(t, tt.signer).build(t)
			r, err := v.Verify(context.Background(), subjectIn("demo"), desc, f)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.contains) {
					t.Fatalf("err = %v, want %v mentioning %q", err, tt.err, tt.contains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.IsSuccess != tt.want {
				t.Fatalf("IsSuccess = %v: %+v", r.IsSuccess, r)
			}
			vs := signatures(t, r)[0].Verifications
			if len(vs) != tt.keys {
				t.Fatalf("%d verifications, want %d", len(vs), tt.keys)
			}
			if !strings.Contains(r.ErrorReason, tt.contains) {
				t.Errorf("ErrorReason %q lacks %q", r.ErrorReason, tt.contains)
			}
			for _, vr := range vs {
				if vr.KeyInformation == nil || vr.KeyInformation.Provider != "kmp" || vr.KeyInformation.Name == "" {
					t.Errorf("keyInformation %+v", vr.KeyInformation)
				}
			}
		})
	}
}

func TestListUnmarshal(t *testing.T) {
	for _, in := range []string{`"a, b"`, `["a","b"]`} {
		var l List
		if err := json.Unmarshal([]byte(in), &l); err != nil || len(l) != 2 || l[1] != "b" {
			t.Errorf("%s: %v %v", in, l, err)
		}
	}
	var l List
	if err := json.Unmarshal([]byte(`7`), &l); err == nil {
		t.Error("a number decoded as a list")
	}
}
