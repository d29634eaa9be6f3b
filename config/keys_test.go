package config

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/verifier/notation"
)

// withKeys rewrites v1Config's notation verifier to use certStores and
// appends a keyManagementProviders section.
func withKeys(certStores, providers string) string {
	s := strings.Replace(v1Config, `"verificationCerts": ["certs"],`, `"verificationCertStores": `+certStores+`,`, 1)
	return strings.Replace(s, `"crl":`, `"keyManagementProviders": `+providers+`, "crl":`, 1)
}

func inlineProvider(t *testing.T, name string) (string, *testpki.Certificate) {
	t.Helper()
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pemText := strings.ReplaceAll(string(testpki.EncodePEM(root.Cert)), "\n", `\n`)
	return `{"name": "` + name + `", "type": "inline", "parameters": {"contentType": "certificate", "value": "` + pemText + `"}}`, root
}

func TestVerificationCertStoresForms(t *testing.T) {
	kmp, root := inlineProvider(t, "kmp-inline")
	for name, stores := range map[string]string{
		"v1.1 form":  `{"ca": {"certs": ["kmp-inline"]}}`,
		"older form": `{"certs": ["kmp-inline"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse([]byte(withKeys(stores, "["+kmp+"]")))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Verifier.Entries[0].Notation.VerificationCertStores; len(got["ca"]["certs"]) != 1 {
				t.Fatalf("verificationCertStores = %v", got)
			}
			providers, err := BuildKeyProviders(cfg, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ts, err := certStoresTrustStore(cfg.Verifier.Entries[0].Notation.VerificationCertStores, providers, false)
			if err != nil {
				t.Fatal(err)
			}
			certs, err := ts.GetCertificates(context.Background(), truststore.TypeCA, "certs")
			if err != nil || len(certs) != 1 || !certs[0].Equal(root.Cert) {
				t.Fatalf("ca:certs = %v, %v", certs, err)
			}
			if _, err := Build(cfg, BuildOptions{}); err != nil {
				t.Fatalf("Build: %v", err)
			}
		})
	}
}

func TestKeyProviderErrors(t *testing.T) {
	kmp, _ := inlineProvider(t, "kmp-inline")
	for name, tc := range map[string]struct{ stores, providers, wantPath string }{
		"unknown provider": {`{"ca": {"certs": ["kmp-inline", "nope"]}}`, "[" + kmp + "]", `verifier.plugins[0].verificationCertStores.ca.certs[1]`},
		"no providers":     {`{"certs": ["kmp-inline"]}`, `[]`, `verifier.plugins[0].verificationCertStores.ca.certs[0]`},
		"bad store type":   {`{"cax": {"certs": ["kmp-inline"]}}`, "[" + kmp + "]", `verifier.plugins[0].verificationCertStores`},
		"unknown type":     {`{"certs": ["a"]}`, `[{"name": "a", "type": "vault"}]`, `keyManagementProviders[0].type`},
		"unknown field":    {`{"certs": ["a"]}`, `[{"name": "a", "type": "azurekeyvault", "parameters": {"vaultUri": "https://v.vault.azure.net/", "certificates": [{"name": "c", "versoin": "1"}]}}]`, `keyManagementProviders[0].parameters.certificates[0].versoin`},
		"bad parameters":   {`{"certs": ["a"]}`, `[{"name": "a", "type": "azurekeyvault", "parameters": {"vaultURI": "http://v/"}}]`, `keyManagementProviders[0].parameters.vaultURI`},
		"bad inline":       {`{"certs": ["a"]}`, `[{"name": "a", "type": "inline", "parameters": {"contentType": "key", "value": "x"}}]`, `keyManagementProviders[0].parameters.value`},
		"duplicate name":   {`{"certs": ["kmp-inline"]}`, "[" + kmp + "," + kmp + "]", `keyManagementProviders[1].name`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(withKeys(tc.stores, tc.providers)))
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantPath) {
				t.Fatalf("Parse: %v, want ErrInvalidConfig at %s", err, tc.wantPath)
			}
		})
	}
}

// SourceTrustStore is what Build hands the notation verifier.
var _ truststore.X509TrustStore = notation.SourceTrustStore{}
