package testratify

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/openratify/ratify/internal/testpki"
)

// ConfigOptions shape the config.json WriteConfig writes. The zero value
// trusts no CA, with one "any" rule for every registry scope.
type ConfigOptions struct {
	// CA are the root (or intermediate) certificates signatures must chain
	// to: the trust store "ca".
	CA []*x509.Certificate
	// TSA, when set, is the root of the timestamping authority; the trust
	// policy then requires a timestamp (verifyTimestamp "always").
	TSA *x509.Certificate
	// Rule is the configPolicy's rule for Notary Project signatures: "any"
	// (when empty) or "all".
	Rule string
	// Scopes are the trust policy's registryScopes; nil means "*".
	Scopes []string
	// Name is the trust policy's name; empty means "testratify".
	Name string
	// TimeoutMS, when not zero, is the executor's verificationRequestTimeout
	// and mutationRequestTimeout in milliseconds.
	TimeoutMS int
}

// WriteConfig writes a config.json in Ratify v1's format that reads
// registries over plain HTTP and verifies Notary Project signatures with
// one trust policy (Notary Project trust policy v1.0, level strict, any
// identity) over opts' certificates, with the CRL cache off. It writes the
// file and the certificates into a new temporary directory, paths in the
// file relative to it, and returns the file's path.
func WriteConfig(t testing.TB, opts ConfigOptions) string {
	t.Helper()
	dir := t.TempDir()
	certDir, stores := writeTrustStores(t, dir, opts)
	verification := map[string]string{"level": "strict"}
	if opts.TSA != nil {
		verification["verifyTimestamp"] = "always"
	}
	rule, scopes, name := opts.Rule, opts.Scopes, opts.Name
	if rule == "" {
		rule = "any"
	}
	if scopes == nil {
		scopes = []string{"*"}
	}
	if name == "" {
		name = "testratify"
	}
	const notation = testpki.ArtifactTypeNotation
	cfg := map[string]any{
		"store": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{"name": "oras", "useHttp": true}}},
		"policy": map[string]any{"version": "1.0.0", "plugin": map[string]any{
			"name": "configPolicy", "artifactVerificationPolicies": map[string]string{notation: rule}}},
		"verifier": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{
			"name": "notation", "artifactTypes": notation, "verificationCerts": []string{certDir},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name": name, "registryScopes": scopes, "signatureVerification": verification,
				"trustStores": stores, "trustedIdentities": []string{"*"},
			}}},
		}}},
		"crl": map[string]any{"cache": map[string]bool{"enabled": false}},
	}
	if opts.TimeoutMS != 0 {
		cfg["executor"] = map[string]int{"verificationRequestTimeout": opts.TimeoutMS, "mutationRequestTimeout": opts.TimeoutMS}
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeTrustStores writes opts' certificates under dir and returns the
// directory to name in verificationCerts and the trust stores of the trust
// policy. Without a TSA the certificates are a flat directory ("certs",
// serving the trust store "ca:certs"); with one, a Notation trust store
// layout ("truststore/ca/trusted" and "truststore/tsa/tsa").
func writeTrustStores(t testing.TB, dir string, opts ConfigOptions) (string, []string) {
	t.Helper()
	certDir, stores := "certs", []string{"ca:certs"}
	caDir := filepath.Join(dir, certDir)
	if opts.TSA != nil {
		certDir, stores = "truststore", []string{"ca:trusted", "tsa:tsa"}
		caDir = filepath.Join(dir, certDir, "ca", "trusted")
		if err := testpki.WritePEM(filepath.Join(dir, certDir, "tsa", "tsa", "root.pem"), opts.TSA); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(caDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, cert := range opts.CA {
		if err := testpki.WritePEM(filepath.Join(caDir, fmt.Sprintf("ca-%d.pem", i)), cert); err != nil {
			t.Fatal(err)
		}
	}
	return certDir, stores
}
