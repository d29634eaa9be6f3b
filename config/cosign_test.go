package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// withCosign is v1Config with its verifiers replaced by one cosign entry,
// and keyManagementProviders when providers is not empty.
func withCosign(t *testing.T, cosign, providers string) []byte {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(v1Config), &cfg); err != nil {
		t.Fatal(err)
	}
	var entry any
	if err := json.Unmarshal([]byte(cosign), &entry); err != nil {
		t.Fatalf("bad cosign entry %s: %v", cosign, err)
	}
	cfg["verifier"].(map[string]any)["plugins"] = []any{entry}
	if providers != "" {
		var p any
		if err := json.Unmarshal([]byte(providers), &p); err != nil {
			t.Fatal(err)
		}
		cfg["keyManagementProviders"] = p
	}
	out, _ := json.Marshal(cfg)
	return out
}

func publicKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestCosignVerifierEntry checks that config.json's cosign entries, in
// Ratify v1's shapes, load and build, and that mistakes are refused with
// the JSON path of the value at fault.
func TestCosignVerifierEntry(t *testing.T) {
	dir := t.TempDir()
	pub := publicKeyPEM(t)
	if err := os.WriteFile(filepath.Join(dir, "cosign.pub"), []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	inlineKey, _ := json.Marshal(map[string]any{"name": "kmp-key", "type": "inline",
		"parameters": map[string]string{"contentType": "key", "value": pub}})

	good := map[string]struct{ entry, providers string }{
		"key file": {`{"name": "cosign", "artifactTypes": "application/vnd.dev.cosign.artifact.sig.v1+json",
			"trustPolicies": [{"name": "default", "version": "1.0.0", "scopes": ["*"], "keys": [{"file": "cosign.pub"}], "tLogVerify": false}]}`, ""},
		"deprecated single key": {`{"name": "cosign", "key": "cosign.pub"}`, ""},
		"key management provider": {`{"name": "verifier-cosign", "type": "cosign",
			"trustPolicies": [{"name": "team", "scopes": ["registry.example/team/*"], "keys": [{"provider": "kmp-key"}]},
			                  {"name": "rest", "scopes": ["*"], "keys": [{"file": "cosign.pub"}]}]}`, "[" + string(inlineKey) + "]"},
	}
	for name, tc := range good {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
			if err := os.WriteFile(path, withCosign(t, tc.entry, tc.providers), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			exec, err := Build(cfg, BuildOptions{})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if len(exec.Verifiers) != 1 || exec.Verifiers[0].Type() != "cosign" ||
				!exec.Verifiers[0].CanVerify("application/vnd.dev.cosign.artifact.sig.v1+json") {
				t.Errorf("verifiers = %v, want one cosign verifier of cosign signatures", exec.Verifiers)
			}
		})
	}

	bad := map[string]struct{ entry, providers, want string }{
		"overlapping scopes": {`{"name": "cosign", "trustPolicies": [
			{"name": "a", "scopes": ["registry.example/*"], "keys": [{"file": "cosign.pub"}]},
			{"name": "b", "scopes": ["registry.example/team/*"], "keys": [{"file": "cosign.pub"}]}]}`, "", "verifier.plugins[0].trustPolicies[1]"},
		"unknown field": {`{"name": "cosign", "trustPolicies": [{"name": "a", "scopes": ["*"], "key": [{"file": "cosign.pub"}]}]}`,
			"", "verifier.plugins[0].trustPolicies[0].key"},
		"undeclared provider": {`{"name": "cosign", "trustPolicies": [{"name": "a", "scopes": ["*"], "keys": [{"provider": "nowhere"}]}]}`,
			"", `no key management provider named "nowhere"`},
		"nothing trusted": {`{"name": "cosign"}`, "", "verifier.plugins[0].trustPolicies"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(withCosign(t, tc.entry, tc.providers))
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v, want ErrInvalidConfig naming %s", err, tc.want)
			}
		})
	}
}

// TestCosignDeferredProvider checks that a composed configuration whose
// cosign trust policy names a provider not declared yet builds, as for
// notation's verificationCertStores.
func TestCosignDeferredProvider(t *testing.T) {
	base, err := Parse([]byte(v1Config))
	if err != nil {
		t.Fatal(err)
	}
	entry := json.RawMessage(`{"name": "cosign", "trustPolicies": [{"name": "a", "scopes": ["*"], "keys": [{"provider": "later"}]}]}`)
	if _, err := Compose(base, Parts{Verifiers: []json.RawMessage{entry}}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("without DeferKeyReferences: %v, want ErrInvalidConfig", err)
	}
	cfg, err := Compose(base, Parts{Verifiers: []json.RawMessage{entry}, DeferKeyReferences: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(cfg, BuildOptions{}); err != nil {
		t.Fatalf("Build with a deferred provider: %v", err)
	}
}
