package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/azurekeyvault/kvtest"
)

// TestVerifyWithKeyVault verifies, through the CLI, an image signed by a
// certificate whose chain lives in a (local) Azure Key Vault, named by the
// notation verifier's verificationCertStores through the config.json
// extension keyManagementProviders. ratify reaches the vault with Azure
// workload identity (a federated token file exchanged at a local Entra
// endpoint), trusting the local servers through SSL_CERT_FILE.
func TestVerifyWithKeyVault(t *testing.T) {
	vault := kvtest.New()
	t.Cleanup(vault.Close)
	r := testregistry.New(t, testregistry.Options{Referrers: true})

	root := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	inter := must(root.NewIntermediateCA(testpki.CertOptions{}))(t)
	signer := must(inter.NewCodeSigning(testpki.CertOptions{}))(t)
	vault.AddSecret("signer", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(signer.Chain...)))

	desc, ref := pushImage(t, r, "demo")
	pushSignature(t, r, "demo", desc, testpki.MediaTypeJWS, must(signer.Sign(context.Background(), desc, testpki.SignOptions{}))(t))
	otherDesc, unsignedByVault := pushImage(t, r, "other")
	_, other := newSigner(t)
	pushSignature(t, r, "other", otherDesc, testpki.MediaTypeJWS, must(other.Sign(context.Background(), otherDesc, testpki.SignOptions{}))(t))

	dir := t.TempDir()
	caFile := filepath.Join(dir, "local-ca.pem")
	tokenFile := filepath.Join(dir, "token")
	for path, data := range map[string][]byte{caFile: vault.CertPEM(), tokenFile: []byte(vault.Assertion)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config := keyVaultConfig(t, vault)
	env := append(testratify.Env(t),
		"SSL_CERT_FILE="+caFile,
		"AZURE_FEDERATED_TOKEN_FILE="+tokenFile,
		"AZURE_AUTHORITY_HOST="+vault.Entra.URL,
	)

	o := run(t, env, ratifyBin, "verify", "-s", ref, "-c", config)
	wantExit(t, o, exitPassed)
	var res result
	if err := json.Unmarshal([]byte(o.stdout), &res); err != nil || !res.IsSuccess {
		t.Fatalf("result %+v (%v): %s", res, err, o)
	}

	o = run(t, env, ratifyBin, "verify", "-s", unsignedByVault, "-c", config)
	wantExit(t, o, exitFailed)

	// The vault down and nothing fetched before: "could not verify"
	// (exit 2), never a verdict, and the answer names the vault's failure.
	vault.SetDown(true)
	o = run(t, env, ratifyBin, "verify", "-s", ref, "-c", config)
	wantExit(t, o, 2)
	if strings.Contains(o.stdout, `"isSuccess":true`) {
		t.Errorf("verified with the vault down: %s", o)
	}
	wantNoPanic(t, o)
	if !strings.Contains(o.stdout+o.stderr, "503") {
		t.Errorf("the answer does not name the vault's failure: %s", o)
	}
}

// keyVaultConfig is testratify's config.json with the notation verifier's
// certificates replaced by the vault's certificate "signer".
func keyVaultConfig(t *testing.T, vault *kvtest.Server) string {
	t.Helper()
	path := testratify.WriteConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{}})
	var cfg map[string]any
	data := must(os.ReadFile(path))(t)
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	notation := cfg["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)
	delete(notation, "verificationCerts")
	notation["verificationCertStores"] = map[string]any{"ca": map[string]any{"certs": []string{"akv"}}}
	cfg["keyManagementProviders"] = []any{map[string]any{
		"name": "akv", "type": "azurekeyvault", "parameters": map[string]any{
			"vaultURI": vault.Vault.URL, "tenantID": vault.TenantID, "clientID": vault.ClientID,
			"certificates": []any{map[string]string{"name": "signer"}},
		},
	}}
	data = must(json.Marshal(cfg))(t)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
