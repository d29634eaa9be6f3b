package attestation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/internal/testfiles"
)

func TestConfigDecode(t *testing.T) {
	raw := `{
	  "name": "attestation", "artifactTypes": "application/vnd.dev.sigstore.bundle.v0.3+json, application/vnd.in-toto+json",
	  "keys": [{"file": "attest.pub"}, {"provider": "akv", "name": "attest-key"}],
	  "keyless": {"certificateIdentityRegExp": "^https://github.com/example/", "certificateOIDCIssuer": "https://token.actions.githubusercontent.com"},
	  "trustedRootFile": "trusted_root.json",
	  "predicates": [
	    {"predicateType": "https://slsa.dev/provenance/v1",
	     "slsa": {"builderID": "https://github.com/actions/runner/github-hosted", "sourceRepository": "https://github.com/example/app", "sourceRef": "refs/heads/main"}},
	    {"predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1", "regoFile": "vuln.rego"}
	  ]
	}`
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.ArtifactTypes) != 2 || len(c.Keys) != 2 || c.Predicates[0].SLSA.SourceRef != "refs/heads/main" || c.Predicates[1].RegoFile != "vuln.rego" || !c.tlog() {
		t.Errorf("decoded %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		return Config{Settings: Settings{Keys: []KeyRef{{File: "k.pub"}}, Predicates: []Predicate{{PredicateType: "*"}}}}
	}
	keyless := &Keyless{CertificateIdentity: "id", CertificateOIDCIssuer: "iss"}
	tests := []struct {
		name string
		mod  func(*Config)
		path string // "": valid
	}{
		{"keys", func(*Config) {}, ""},
		{"keyless", func(c *Config) { c.Keys, c.Keyless, c.TrustedRootFile = nil, keyless, "root.json" }, ""},
		{"keys with log entries", func(c *Config) { c.TrustedRootFile = "root.json" }, ""},
		{"other type", func(c *Config) { c.Type = "cosign" }, "type"},
		{"nothing trusted", func(c *Config) { c.Keys = nil }, "keys"},
		{"keyless without root", func(c *Config) { c.Keys, c.Keyless = nil, keyless }, "trustedRootFile"},
		{"log entries without root", func(c *Config) { c.TLogVerify = ptr(true) }, "trustedRootFile"},
		{"key without source", func(c *Config) { c.Keys = []KeyRef{{Name: "x"}} }, "keys[0]"},
		{"file and provider", func(c *Config) { c.Keys = []KeyRef{{File: "f", Provider: "p"}} }, "keys[0]"},
		{"version without name", func(c *Config) { c.Keys = []KeyRef{{Provider: "p", Version: "1"}} }, "keys[0].version"},
		{"too many keys", func(c *Config) { c.Keys = make([]KeyRef, MaxKeys+1) }, "keys"},
		{"identity and regexp", func(c *Config) {
			c.Keyless, c.TrustedRootFile = &Keyless{CertificateIdentity: "a", CertificateIdentityRegExp: "b", CertificateOIDCIssuer: "i"}, "r"
		}, "keyless"},
		{"no issuer", func(c *Config) { c.Keyless, c.TrustedRootFile = &Keyless{CertificateIdentity: "a"}, "r" }, "keyless"},
		{"bad regexp", func(c *Config) {
			c.Keyless, c.TrustedRootFile = &Keyless{CertificateIdentityRegExp: "(", CertificateOIDCIssuer: "i"}, "r"
		}, "keyless.certificateIdentityRegExp"},
		{"no predicates", func(c *Config) { c.Predicates = nil }, "predicates"},
		{"empty predicate type", func(c *Config) { c.Predicates = []Predicate{{}} }, "predicates[0].predicateType"},
		{"duplicate predicate type", func(c *Config) { c.Predicates = append(c.Predicates, Predicate{PredicateType: "*"}) }, "predicates[1].predicateType"},
		{"SLSA on another type", func(c *Config) {
			c.Predicates = []Predicate{{PredicateType: "https://spdx.dev/Document", SLSA: &SLSA{BuilderID: "b"}}}
		}, "predicates[0].slsa"},
		{"empty SLSA", func(c *Config) { c.Predicates = []Predicate{{PredicateType: PredicateSLSAProvenanceV1, SLSA: &SLSA{}}} }, "predicates[0].slsa"},
		{"rego and regoFile", func(c *Config) { c.Predicates = []Predicate{{PredicateType: "*", Rego: "x", RegoFile: "y"}} }, "predicates[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mod(&c)
			err := c.Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), tt.path+":") {
				t.Fatalf("Validate = %v, want an error at %q", err, tt.path)
			}
		})
	}
}

// TestNewRefuses checks the files New refuses.
func TestNewRefuses(t *testing.T) {
	small := newKey(t, "rsa-1024")
	s := newSigstore(t)
	dir := t.TempDir()
	fifo, large := testfiles.Pipe(t, dir, "fifo.pub"), testfiles.Sized(t, dir, "large.pub", maxKeyFileSize+1)
	tests := []struct {
		name string
		cfg  Config
		text string
	}{
		{"missing key file", keyConfig([]string{"/nonexistent/key.pub"}, slsaPolicy), "key file"},
		{"key file a pipe", keyConfig([]string{fifo}, slsaPolicy), limitedfile.ErrNotRegular.Error()},
		{"key file over the limit", keyConfig([]string{large}, slsaPolicy), errdef.ErrSizeExceedsLimit.Error()},
		{"refused key", keyConfig([]string{small.file}, slsaPolicy), "1024-bit RSA key refused"},
		{"missing trusted root", func() Config { c := s.keylessConfig(); c.TrustedRootFile = "/nonexistent/root.json"; return c }(), "trustedRootFile"},
		{"trusted root without CT log, SCTs required", s.keylessConfig(func(c *Config) { c.Keyless.CTLogVerify = nil; c.TrustedRootFile = emptyCTRoot(t, s) }),
			"no CT log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, Options{}); !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("New = %v, want a configuration error about %q", err, tt.text)
			}
		})
	}
}
