package faults

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/auth/azure"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/entratest"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/azurekeyvault/kvtest"
)

// hangingTLS starts an HTTPS server (with httptest's certificate, which
// the local vault's and Entra's clients trust) that holds every request
// until the client gives up or the test ends, and stops it then.
func hangingTLS(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	s := httptest.NewTLSServer(hang(release))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for the handlers
	return s
}

// hang returns a handler holding each request until its client gives up,
// or until release is closed (when the test ends): token fetches run
// detached from the verification that started them, for up to 30 s
// (auth/token's FetchTimeout), and would otherwise hold the test that
// long. It reads the body first: the server notices a client hanging up
// only once it has.
func hang(release <-chan struct{}) http.HandlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// downURL is an https URL nothing answers.
func downURL(t *testing.T) string { return "https://" + unusedAddr(t) }

// keyVaultConfig is baseConfig with the notation verifier's CA read from
// the Key Vault provider "akv" at vaultURI (certificate "ca").
func keyVaultConfig(vault *kvtest.Server, vaultURI string) map[string]any {
	cfg := baseConfig()
	n := cfg["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)
	delete(n, "verificationCerts")
	n["verificationCertStores"] = map[string]any{"ca": map[string]any{"certs": []string{"akv"}}}
	cfg["keyManagementProviders"] = []any{map[string]any{"name": "akv", "type": "azurekeyvault", "parameters": map[string]any{
		"vaultURI": vaultURI, "tenantID": vault.TenantID, "clientID": vault.ClientID,
		"certificates": []any{map[string]string{"name": "ca"}},
	}}}
	return cfg
}

// workloadIdentity sets the environment Azure workload identity's webhook
// sets: a federated token file holding assertion, and the authority.
func workloadIdentity(t *testing.T, authority, assertion string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(file, []byte(assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	t.Setenv("AZURE_AUTHORITY_HOST", authority)
	t.Setenv("AZURE_CLIENT_ID", "")
	t.Setenv("AZURE_TENANT_ID", "")
}

// wantNoPass fails t if the provider's answer passed the image: it must
// be an item error naming one of want, or a system error (the deadline).
func wantNoPass(t *testing.T, a answer, want ...error) {
	t.Helper()
	if a.SystemError != "" {
		if !strings.Contains(a.SystemError, "did not finish within") {
			t.Fatalf("system error %q", a.SystemError)
		}
		return
	}
	for _, it := range a.Items {
		named := false
		for _, w := range want {
			named = named || strings.Contains(it.Error, w.Error())
		}
		if !named {
			t.Fatalf("item %q: value %s error %q, want an error naming one of %v", it.Key, it.Value, it.Error, want)
		}
	}
}

// TestKeyVaultFaults: the CA that signatures chain to lives in an Azure
// Key Vault. With the vault or its Entra token endpoint down, or hanging
// past the deadline, and nothing fetched before, verification is "could
// not verify" (ErrTrustMaterialUnavailable, or the deadline), never a
// pass and never "unsigned".
func TestKeyVaultFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, vault *kvtest.Server) (vaultURI, authority string)
	}{
		{"all up", func(_ *testing.T, v *kvtest.Server) (string, string) { return v.Vault.URL, v.Entra.URL }},
		{"vault down (503)", func(_ *testing.T, v *kvtest.Server) (string, string) {
			v.SetDown(true)
			return v.Vault.URL, v.Entra.URL
		}},
		{"vault unreachable", func(t *testing.T, v *kvtest.Server) (string, string) { return downURL(t), v.Entra.URL }},
		{"vault hangs", func(t *testing.T, v *kvtest.Server) (string, string) { return hangingTLS(t).URL, v.Entra.URL }},
		{"Entra unreachable", func(t *testing.T, v *kvtest.Server) (string, string) { return v.Vault.URL, downURL(t) }},
		{"Entra hangs", func(t *testing.T, v *kvtest.Server) (string, string) { return v.Vault.URL, hangingTLS(t).URL }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			vault := kvtest.New()
			t.Cleanup(vault.Close)
			f := newFixture(t, testregistry.Options{Referrers: true})
			vault.AddSecret("ca", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(f.ca.Cert)))
			vaultURI, authority := tc.setup(t, vault)
			workloadIdentity(t, authority, vault.Assertion)
			cfg := keyVaultConfig(vault, vaultURI)
			cfg["executor"] = map[string]any{"verificationRequestTimeout": 2000}
			path := writeConfig(t, f.dir, cfg)
			kv := azurekeyvault.Options{ClientOptions: policy.ClientOptions{Transport: vault.Client()}}

			res, err := verify(t, build(t, path, config.BuildOptions{KeyVault: kv}), f.ref("app/signed", f.signed))
			if tc.name == "all up" {
				if err != nil || !res.IsSuccess {
					t.Fatalf("with the vault up: %+v, %v", res, err)
				}
			} else if !errors.Is(err, errdef.ErrTrustMaterialUnavailable) && !errors.Is(err, errdef.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("executor: %+v, %v; want ErrTrustMaterialUnavailable or ErrTimeout", res, err)
			}

			p := startProvider(t, server.Options{ConfigPath: path, KeyVault: kv, BackgroundVerification: 1})
			a := p.post(t, "verify", f.ref("app/signed", f.signed))
			if tc.name == "all up" {
				if !a.Items[0].result(t).IsSuccess {
					t.Fatalf("provider with the vault up: %+v", a)
				}
				return
			}
			wantNoPass(t, a, errdef.ErrTrustMaterialUnavailable, errdef.ErrTimeout)
		})
	}
}

// TestRegistryTokenServiceFaults: registry credentials come from Azure
// workload identity (azureWorkloadIdentity: Entra token, exchanged at the
// registry's /oauth2/exchange). With Entra or the exchange down or hanging,
// verification is "could not verify", never "unsigned": ErrUnauthorized
// when no Entra token could be had (the provider says so of any failure
// to get one), ErrRegistryUnavailable when the exchange fails with a 5xx,
// or the deadline.
func TestRegistryTokenServiceFaults(t *testing.T) {
	const tenant, clientID, assertion = "72f988bf-0000-0000-0000-0000000000fa", "11111111-2222-3333-4444-5555555555fa", "federated-token"
	for _, tc := range []struct {
		name      string
		authority func(t *testing.T, e *entratest.Entra) string
		exchange  func(release <-chan struct{}) http.HandlerFunc // replaces /oauth2/exchange when set
		want      []error
	}{
		{"all up", func(_ *testing.T, e *entratest.Entra) string { return e.URL }, nil, nil},
		{"Entra unreachable", func(t *testing.T, _ *entratest.Entra) string { return downURL(t) }, nil, []error{errdef.ErrUnauthorized, errdef.ErrTimeout}},
		{"Entra hangs", func(t *testing.T, _ *entratest.Entra) string { return hangingTLS(t).URL }, nil, []error{errdef.ErrUnauthorized, errdef.ErrTimeout}},
		{"exchange answers 503", func(_ *testing.T, e *entratest.Entra) string { return e.URL },
			func(<-chan struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
			}, []error{errdef.ErrRegistryUnavailable}},
		{"exchange hangs", func(_ *testing.T, e *entratest.Entra) string { return e.URL },
			hang, []error{errdef.ErrRegistryUnavailable, errdef.ErrTimeout}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			entra := entratest.NewEntra(entratest.EntraOptions{TenantID: tenant, ClientID: clientID, Assertion: assertion, Scope: azure.Scope})
			t.Cleanup(entra.Close)
			acr := entratest.NewACR(entratest.ACROptions{TenantID: tenant, Accept: entra.Valid})
			var exchange http.HandlerFunc
			release := make(chan struct{})
			if tc.exchange != nil {
				exchange = tc.exchange(release)
			}
			wrap := func(next http.Handler) http.Handler {
				front := acr.Wrap(next)
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/oauth2/exchange" && exchange != nil {
						exchange(w, r)
						return
					}
					front.ServeHTTP(w, r)
				})
			}
			f := newFixture(t, testregistry.Options{Referrers: true, TLS: true, Handler: wrap})
			t.Cleanup(func() { close(release) }) // before the registry's Close, which waits for its handlers
			acr.Enforce()
			workloadIdentity(t, tc.authority(t, entra), assertion)
			// httptest's servers share one certificate: one bundle, by host
			// name, trusts the registry, its token service and Entra.
			cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: entra.Certificate().Raw})
			if err := os.WriteFile(filepath.Join(f.dir, "local-ca.pem"), cert, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := baseConfig()
			cfg["executor"] = map[string]any{"verificationRequestTimeout": 2000}
			cfg["store"] = map[string]any{"plugins": []any{map[string]any{"name": "oras",
				"registryCABundles": map[string]string{"127.0.0.1": "local-ca.pem"},
				"authProvider": map[string]any{"name": "azureWorkloadIdentity", "clientID": clientID, "tenantID": tenant,
					"endpoints": []string{f.reg.Host()}},
			}}}
			path := writeConfig(t, f.dir, cfg)

			ctx, cancel := context.WithTimeout(context.Background(), generous)
			defer cancel()
			res, err := build(t, path, config.BuildOptions{}).Verify(ctx, f.ref("app/signed", f.signed), ratify.VerifyOptions{})
			if tc.want == nil {
				if err != nil || !res.IsSuccess {
					t.Fatalf("with everything up: %+v, %v", res, err)
				}
			} else {
				matched := false
				for _, w := range tc.want {
					matched = matched || errors.Is(err, w) || (w == errdef.ErrTimeout && errors.Is(err, context.DeadlineExceeded))
				}
				if !matched {
					t.Fatalf("executor: %+v, %v; want one of %v", res, err, tc.want)
				}
			}

			p := startProvider(t, server.Options{ConfigPath: path, BackgroundVerification: 1})
			a := p.post(t, "verify", f.ref("app/signed", f.signed))
			if tc.want == nil {
				if !a.Items[0].result(t).IsSuccess {
					t.Fatalf("provider with everything up: %+v", a)
				}
				return
			}
			wantNoPass(t, a, tc.want...)
		})
	}
}
