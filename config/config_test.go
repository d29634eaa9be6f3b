package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/internal/testfiles"
)

// v1Config is a config.json as Ratify v1 users write it.
const v1Config = `{
  "executor": {"verificationRequestTimeout": 5000},
  "store": {
    "version": "1.0.0",
    "plugins": [{"name": "oras", "useHttp": true, "cosignEnabled": false, "localCachePath": "./cache",
                 "authProvider": {"name": "dockerConfig"}}]
  },
  "policy": {
    "version": "1.0.0",
    "plugin": {"name": "configPolicy", "artifactVerificationPolicies": {"application/vnd.cncf.notary.signature": "any", "default": "all"}}
  },
  "verifier": {
    "version": "1.0.0",
    "plugins": [{
      "name": "notation",
      "artifactTypes": "application/vnd.cncf.notary.signature, application/example",
      "verificationCerts": ["certs"],
      "trustPolicyDoc": {
        "version": "1.0",
        "trustPolicies": [{
          "name": "default",
          "registryScopes": ["*"],
          "signatureVerification": {"level": "strict", "override": {"revocation": "log"}},
          "trustStores": ["ca:certs"],
          "trustedIdentities": ["*"]
        }]
      }
    }]
  },
  "crl": {"cache": {"enabled": false}},
  "logger": {"formatter": "json", "requestHeaders": {"traceIDHeaderName": ["x-ms-correlation-request-id"]}}
}`

func TestParseV1Config(t *testing.T) {
	cfg, err := Parse([]byte(v1Config))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Store.Plugins[0]
	if !p.UseHTTP || p.AuthProvider.Name != "dockerConfig" {
		t.Errorf("store plugin = %+v", p)
	}
	if got := cfg.Executor.VerificationTimeout().Milliseconds(); got != 5000 {
		t.Errorf("verification timeout = %dms", got)
	}
	if got := cfg.Executor.MutationTimeout().Milliseconds(); got != DefaultMutationRequestTimeout {
		t.Errorf("mutation timeout = %dms", got)
	}
	if cfg.CRL.CacheEnabled() {
		t.Error("crl cache should be off")
	}
	n := cfg.Verifier.Entries[0].Notation
	if n == nil || len(n.ArtifactTypes) != 2 || n.ArtifactTypes[1] != "application/example" {
		t.Fatalf("notation entry = %+v", n)
	}
	if lvl := n.TrustPolicyDoc.TrustPolicies[0].SignatureVerification.VerificationLevel; lvl != "strict" {
		t.Errorf("level = %q", lvl)
	}
}

func TestParseErrorsNamePath(t *testing.T) {
	tests := []struct {
		name, from, to, wantPath string
	}{
		{"unknown top-level field", `"executor": {`, `"executr": {`, "executr: unknown field"},
		{"unknown store field", `"useHttp": true`, `"useHTTPS": true`, "store.plugins[0].useHTTPS: unknown field"},
		{"mistyped boolean", `"useHttp": true`, `"useHttp": "yes"`, "store.plugins[0].useHttp: expected a boolean"},
		{"mistyped number", `5000`, `"5s"`, "executor.verificationRequestTimeout: expected a number"},
		{"unknown trust policy field", `"registryScopes"`, `"registryScope"`, "verifier.plugins[0].trustPolicyDoc.trustPolicies[0].registryScope: unknown field"},
		{"bad rule", `"default": "all"`, `"default": "most"`, `policy.plugin.artifactVerificationPolicies["default"]`},
		{"bad level", `"level": "strict"`, `"level": "lenient"`, "verifier.plugins[0].trustPolicyDoc"},
		{"fields of another verifier", `"name": "notation"`, `"name": "schemavalidator"`, "verifier.plugins[0].verificationCerts: unknown field"},
		{"unknown store", `"name": "oras"`, `"name": "s3"`, "store.plugins[0].name"},
		{"bad formatter", `"formatter": "json"`, `"formatter": "xml"`, "logger.formatter"},
		{"no certs", `"verificationCerts": ["certs"]`, `"verificationCerts": []`, "verifier.plugins[0].verificationCerts"},
		{"negative timeout", `5000`, `-1`, "executor.verificationRequestTimeout"},
		{"not an object", `"crl": {"cache": {"enabled": false}}`, `"crl": ["cache"]`, "crl: expected an object"},
		{"rego without a module", `"name": "configPolicy"`, `"name": "regoPolicy"`, "policy.plugin.policy: missing"},
		{"unknown policy", `"name": "configPolicy"`, `"name": "opaPolicy"`, "policy.plugin.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(v1Config, tt.from, tt.to, 1)
			if bad == v1Config {
				t.Fatalf("replacement %q did not apply", tt.from)
			}
			_, err := Parse([]byte(bad))
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.wantPath) {
				t.Errorf("error %q does not name %q", err, tt.wantPath)
			}
		})
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	for _, in := range []string{``, `{`, `[]`, `null x`, `{"store": {"plugins": [1]}}`, "\x00\x01"} {
		if _, err := Parse([]byte(in)); !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalidConfig", in, err)
		}
	}
}

func TestLoadDefaultPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RATIFY_CONFIG", dir)
	_, err := Load("")
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("missing file err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(v1Config), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Dir != dir || cfg.path("certs") != filepath.Join(dir, "certs") || cfg.path("/abs") != "/abs" {
		t.Errorf("Dir = %q, path(certs) = %q", cfg.Dir, cfg.path("certs"))
	}
	t.Setenv("RATIFY_CONFIG", "")
	t.Setenv("HOME", dir)
	if p, _ := DefaultPath(); p != filepath.Join(dir, ".ratify", FileName) {
		t.Errorf("DefaultPath = %q", p)
	}
}

// TestLoadBounded: a config file larger than maxFileBytes, or one that is
// not a regular file, is refused rather than read.
func TestLoadBounded(t *testing.T) {
	dir := t.TempDir()
	big := testfiles.Sized(t, dir, "big.json", maxFileBytes+10)
	fifo := testfiles.Pipe(t, dir, "fifo.json")
	for _, tc := range []struct {
		name, path string
		err        error
	}{
		{"over the limit", big, errdef.ErrSizeExceedsLimit},
		{"a pipe", fifo, limitedfile.ErrNotRegular},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Load(tc.path); !errors.Is(err, errdef.ErrInvalidConfig) || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Load: %v, want ErrInvalidConfig and %v naming the file", err, tc.err)
			}
		})
	}
}

func TestParseSyntaxErrorNamesPosition(t *testing.T) {
	truncated := v1Config[:strings.Index(v1Config, `"policy"`)]
	_, err := Parse([]byte(truncated))
	if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "not valid JSON: line 8,") {
		t.Fatalf("err = %v, want a JSON syntax error at line 8", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
}

func TestCompose(t *testing.T) {
	base, err := Parse([]byte(v1Config))
	if err != nil {
		t.Fatal(err)
	}
	base.Digest = "base"
	cfg, err := Compose(base, Parts{
		Stores:    []json.RawMessage{json.RawMessage(`{"name":"oras","cosignEnabled":true}`)},
		Verifiers: []json.RawMessage{json.RawMessage(`{"name":"verifier-notation","type":"notation","artifactTypes":"application/vnd.cncf.notary.signature","verificationCerts":["/certs"],"trustPolicyDoc":{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"audit"},"trustStores":["ca:c"],"trustedIdentities":["*"]}]}}`)},
		Policy:    json.RawMessage(`{"name":"configPolicy","artifactVerificationPolicies":{"default":"any"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Store.Plugins[0].CosignEnabled || cfg.Store.Plugins[0].UseHTTP {
		t.Errorf("store = %+v", cfg.Store.Plugins[0])
	}
	if n := cfg.Verifier.Entries[0].Notation; n == nil || n.Name != "verifier-notation" {
		t.Errorf("verifier = %+v", cfg.Verifier.Entries)
	}
	if cfg.Policy.Plugin.ArtifactVerificationPolicies["default"] != "any" || cfg.CRL.CacheEnabled() != base.CRL.CacheEnabled() {
		t.Errorf("policy or untouched section changed: %+v", cfg)
	}
	if cfg.Digest == base.Digest || base.Store.Plugins[0].CosignEnabled {
		t.Error("Compose changed base or kept its digest")
	}
	_, err = Compose(base, Parts{Verifiers: []json.RawMessage{json.RawMessage(`{"name":"notation","verificationCerts":["c"],"trustPolicyDocs":{}}`)}})
	if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "verifier.plugins[0].trustPolicyDocs: unknown field") {
		t.Errorf("bad verifier part: %v", err)
	}
	if _, err := Compose(base, Parts{Policy: json.RawMessage(`{"name":"configPolicy","artifactVerificationPolicies":{"x":"some"}}`)}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("bad policy part: %v", err)
	}
}

// TestUnknownVerifierIsAPlugin checks that a verifier of a type ratify does
// not have is an external plugin, as in Ratify v1, and that a plugin that
// is not installed is a configuration error naming where it was looked for.
func TestUnknownVerifierIsAPlugin(t *testing.T) {
	dir := t.TempDir()
	doc := strings.Replace(v1Config, `"name": "notation"`, `"name": "notary"`, 1)
	doc = strings.Replace(doc, `"verifier": {`, `"verifier": {"pluginBinDirs": ["`+dir+`"],`, 1)
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Verifier.Entries[0].Plugin == nil {
		t.Fatalf("entry = %+v, want an external plugin", cfg.Verifier.Entries[0])
	}
	_, err = Build(cfg, BuildOptions{})
	if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "notary") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Build: %v, want ErrInvalidConfig naming the plugin and %s", err, dir)
	}
}
