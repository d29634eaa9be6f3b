package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/auth/azure"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/entratest"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// The Microsoft Entra identity of the Azure tests.
const (
	azureTenant    = "72f988bf-0000-0000-0000-00000000aaaa"
	azureClientID  = "11111111-2222-3333-4444-55555555aaaa"
	azureAssertion = "federated-service-account-token"
)

// azureResource is the managed identity resource of ACR's Entra scope.
var azureResource = strings.TrimSuffix(azure.Scope, "/.default")

// acrRegistry starts a TLS registry behind ACR's token service, which
// takes the Entra tokens accept takes, holding app:v1 signed by a new CA.
// It returns the registry, its token service and the CA.
func acrRegistry(t *testing.T, accept func(string) bool) (*testregistry.Registry, *entratest.ACR, *x509.Certificate) {
	t.Helper()
	front := entratest.NewACR(entratest.ACROptions{TenantID: azureTenant, Accept: accept})
	r := testregistry.New(t, testregistry.Options{Referrers: true, TLS: true, Handler: front.Wrap})
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Sign(t, "app", r.PushImage(t, "app", "v1"), leaf)
	front.Enforce()
	return r, front, root.Cert
}

// loadAzureConfig writes a config.json reading registries over HTTPS with
// authProvider and registryCABundles (files in the config's directory),
// and verifying Notary Project signatures that chain to root; it returns
// the file loaded.
func loadAzureConfig(t *testing.T, authProvider map[string]any, bundles map[string][]byte, root *x509.Certificate) *Config {
	t.Helper()
	dir := t.TempDir()
	if err := testpki.WritePEM(filepath.Join(dir, "certs", "root.pem"), root); err != nil {
		t.Fatal(err)
	}
	store := map[string]any{"name": "oras", "authProvider": authProvider}
	if len(bundles) > 0 {
		names := map[string]string{}
		for host, data := range bundles {
			name := strings.NewReplacer(":", "-", ".", "-").Replace(host) + ".pem"
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
			names[host] = name
		}
		store["registryCABundles"] = names
	}
	const sig = testpki.ArtifactTypeNotation
	data, err := json.MarshalIndent(map[string]any{
		"executor": map[string]any{"verificationRequestTimeout": 60000},
		"store":    map[string]any{"version": "1.0.0", "plugins": []any{store}},
		"policy": map[string]any{"version": "1.0.0", "plugin": map[string]any{
			"name": "configPolicy", "artifactVerificationPolicies": map[string]string{sig: "any"}}},
		"verifier": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{
			"name": "notation", "artifactTypes": sig, "verificationCerts": []string{"certs"},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name": "acr", "registryScopes": []string{"*"}, "signatureVerification": map[string]string{"level": "strict"},
				"trustStores": []string{"ca:certs"}, "trustedIdentities": []string{"*"},
			}}},
		}}},
		"crl": map[string]any{"cache": map[string]bool{"enabled": false}},
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// workloadIdentityEnv starts Entra and sets the environment Azure workload
// identity's webhook sets, pointing at it.
func workloadIdentityEnv(t *testing.T) *entratest.Entra {
	t.Helper()
	e := entratest.NewEntra(entratest.EntraOptions{TenantID: azureTenant, ClientID: azureClientID, Assertion: azureAssertion, Scope: azure.Scope})
	t.Cleanup(e.Close)
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(file, []byte(azureAssertion), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	t.Setenv("AZURE_AUTHORITY_HOST", e.URL)
	t.Setenv("AZURE_CLIENT_ID", "")
	t.Setenv("AZURE_TENANT_ID", "")
	return e
}

// managedIdentityEnv starts App Service's managed identity endpoint for a
// new client ID and points the environment at it.
func managedIdentityEnv(t *testing.T) (*entratest.ManagedIdentity, string) {
	t.Helper()
	clientID := entratest.NewClientID()
	mi := entratest.NewManagedIdentity(entratest.ManagedIdentityOptions{Header: "identity-header", ClientID: clientID, Resource: azureResource})
	t.Cleanup(mi.Close)
	t.Setenv("IDENTITY_ENDPOINT", mi.Endpoint())
	t.Setenv("IDENTITY_HEADER", "identity-header")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
	return mi, clientID
}

// trustingTransport trusts the TLS certificates of servers and nothing else.
func trustingTransport(certs ...*x509.Certificate) *http.Transport {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr
}

func registryCAPEM(t *testing.T, r *testregistry.Registry) []byte {
	t.Helper()
	data, err := os.ReadFile(r.CAFile(t))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func registryCACert(t *testing.T, r *testregistry.Registry) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(registryCAPEM(t, r))
	if block == nil {
		t.Fatal("no PEM block in the registry's CA file")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verifyRef builds cfg and verifies reference with a generous deadline.
func verifyRef(t *testing.T, cfg *Config, opts BuildOptions, reference string) (ratify.Result, error) {
	t.Helper()
	exec, err := Build(cfg, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return exec.Verify(ctx, reference, ratify.VerifyOptions{})
}

// checkACRRequests fails t unless the registry behind front served
// requests, the signature's referrers among them, each with an access
// token its token service issued, and no request carried anything else.
func checkACRRequests(t *testing.T, front *entratest.ACR) {
	t.Helper()
	var authorized, referrers int
	for _, req := range front.Requests() {
		switch {
		case req.Authorized:
			authorized++
			if strings.Contains(req.Path, "/referrers/") {
				referrers++
			}
		case req.Authorization != "":
			t.Errorf("%s %s carried %q, not an access token of the registry", req.Method, req.Path, req.Authorization)
		}
	}
	if authorized == 0 || referrers == 0 {
		t.Errorf("registry requests %+v: want the manifest and referrers read with an ACR access token", front.Requests())
	}
	if refused := front.Refused(); len(refused) != 0 {
		t.Errorf("the token service refused %v", refused)
	}
}

// TestBuildAzureWorkloadIdentity verifies a signed image in an ACR-style
// registry with the azureWorkloadIdentity auth provider of config.json:
// the federated token goes to Entra, Entra's token to the registry's
// /oauth2/exchange, and the registry serves the image and its signature to
// the access token the exchange's refresh token buys.
func TestBuildAzureWorkloadIdentity(t *testing.T) {
	e := workloadIdentityEnv(t)
	r, front, root := acrRegistry(t, e.Valid)
	cfg := loadAzureConfig(t, map[string]any{
		"name": "azureWorkloadIdentity", "clientID": azureClientID, "tenantID": azureTenant, "endpoints": []string{r.Host()},
	}, nil, root)

	res, err := verifyRef(t, cfg, BuildOptions{Transport: trustingTransport(e.Certificate(), registryCACert(t, r))}, r.Host()+"/app:v1")
	if err != nil || !res.IsSuccess {
		t.Fatalf("verify = %+v, %v; want success", res, err)
	}
	reqs := e.TokenRequests()
	if len(reqs) != 1 {
		t.Fatalf("entra token requests = %+v, want 1", reqs)
	}
	if got := reqs[0]; !got.Issued || got.ClientAssertion != azureAssertion || got.ClientID != azureClientID ||
		got.TenantID != azureTenant || !strings.Contains(got.Scope, azure.Scope) {
		t.Errorf("entra token request = %+v, want the federated token of %s for %s", got, azureClientID, azure.Scope)
	}
	if n := front.Exchanges(); n != 1 {
		t.Errorf("exchanges = %d, want 1", n)
	}
	checkACRRequests(t, front)
}

// TestBuildAzureManagedIdentity is TestBuildAzureWorkloadIdentity with
// azureManagedIdentity: the token comes from App Service's identity
// endpoint for the configured client ID.
func TestBuildAzureManagedIdentity(t *testing.T) {
	mi, clientID := managedIdentityEnv(t)
	r, front, root := acrRegistry(t, mi.Valid)
	cfg := loadAzureConfig(t, map[string]any{
		"name": "azureManagedIdentity", "clientID": clientID, "tenantID": azureTenant, "endpoints": []string{r.Host()},
	}, nil, root)

	res, err := verifyRef(t, cfg, BuildOptions{Transport: trustingTransport(registryCACert(t, r))}, r.Host()+"/app:v1")
	if err != nil || !res.IsSuccess {
		t.Fatalf("verify = %+v, %v; want success", res, err)
	}
	want := entratest.IdentityRequest{Header: "identity-header", ClientID: clientID, Resource: azureResource, Issued: true}
	if reqs := mi.Requests(); len(reqs) != 1 || reqs[0] != want {
		t.Errorf("identity endpoint requests = %+v, want [%+v]", reqs, want)
	}
	if n := front.Exchanges(); n != 1 {
		t.Errorf("exchanges = %d, want 1", n)
	}
	checkACRRequests(t, front)
}

// hostileRegistry is a registry that is not on the allow-list and asks for
// credentials: it records what it receives and challenges everything.
type hostileRegistry struct {
	mu       sync.Mutex
	requests []string // "METHOD path"
	leaked   []string
}

func (h *hostileRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	h.mu.Lock()
	h.requests = append(h.requests, r.Method+" "+r.URL.Path)
	if a := r.Header.Get("Authorization"); a != "" {
		h.leaked = append(h.leaked, "Authorization: "+a)
	}
	for _, k := range []string{"access_token", "refresh_token", "password", "client_assertion"} {
		if v := r.Form.Get(k); v != "" {
			h.leaked = append(h.leaked, k+"="+v)
		}
	}
	if r.URL.Path == "/oauth2/exchange" {
		h.leaked = append(h.leaked, "a token exchange")
	}
	h.mu.Unlock()
	w.Header().Set("Www-Authenticate", `Bearer realm="https://`+r.Host+`/oauth2/token",service="`+r.Host+`",scope="repository:app:pull"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
}

// TestBuildAzureHostileHost: an executor built with azureWorkloadIdentity
// for one registry sends a registry on another port of the same address,
// which challenges for bearer tokens, no Authorization header, no token
// and no exchange, before and after it has tokens for the allowed one;
// Entra is asked only for the allowed registry. The refusal is
// errdef.ErrUnauthorized.
func TestBuildAzureHostileHost(t *testing.T) {
	e := workloadIdentityEnv(t)
	r, front, root := acrRegistry(t, e.Valid)
	h := &hostileRegistry{}
	evil := httptest.NewTLSServer(h)
	t.Cleanup(evil.Close)
	evilHost := strings.TrimPrefix(evil.URL, "https://")
	cfg := loadAzureConfig(t, map[string]any{
		"name": "azureWorkloadIdentity", "clientID": azureClientID, "tenantID": azureTenant, "endpoints": []string{r.Host()},
	}, nil, root)
	exec, err := Build(cfg, BuildOptions{Transport: trustingTransport(e.Certificate(), registryCACert(t, r), evil.Certificate())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := exec.Verify(ctx, evilHost+"/app:v1", ratify.VerifyOptions{}); !errors.Is(err, errdef.ErrUnauthorized) {
		t.Fatalf("verify at the hostile registry: err = %v, want ErrUnauthorized", err)
	}
	if n := len(e.TokenRequests()); n != 0 {
		t.Errorf("entra was asked for %d tokens for a registry not on the allow-list", n)
	}
	if res, err := exec.Verify(ctx, r.Host()+"/app:v1", ratify.VerifyOptions{}); err != nil || !res.IsSuccess {
		t.Fatalf("verify at the allowed registry = %+v, %v; want success", res, err)
	}
	if _, err := exec.Verify(ctx, evilHost+"/app:v1", ratify.VerifyOptions{}); !errors.Is(err, errdef.ErrUnauthorized) {
		t.Fatalf("verify at the hostile registry with tokens in hand: err = %v, want ErrUnauthorized", err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	manifests := 0
	for _, req := range h.requests {
		if strings.Contains(req, "/v2/app/manifests/") {
			manifests++
		}
	}
	if manifests < 2 {
		t.Fatalf("the hostile registry saw %v, want a manifest request from each verification", h.requests)
	}
	if len(h.leaked) != 0 {
		t.Errorf("the hostile registry received %v", h.leaked)
	}
	if n := len(e.TokenRequests()); n != 1 {
		t.Errorf("entra token requests = %d, want 1 (for the allowed registry)", n)
	}
	if n := front.Exchanges(); n != 1 {
		t.Errorf("exchanges = %d, want 1", n)
	}
}

// TestBuildAzureExchangeCABundle: with no transport given, a registry
// whose certificate only registryCABundles makes trusted is reached for
// the token exchange as for everything else; without the bundle the
// registry cannot be verified against (errdef.ErrRegistryUnavailable) and
// no token is exchanged.
func TestBuildAzureExchangeCABundle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		bundle func(r *testregistry.Registry) string // the host the bundle is for; "" for none
		want   error
	}{
		{"bundle for host:port", (*testregistry.Registry).Host, nil},
		{"bundle for the host name", func(*testregistry.Registry) string { return "127.0.0.1" }, nil},
		{"no bundle", func(*testregistry.Registry) string { return "" }, errdef.ErrRegistryUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mi, clientID := managedIdentityEnv(t)
			r, front, root := acrRegistry(t, mi.Valid)
			bundles := map[string][]byte{}
			if host := tc.bundle(r); host != "" {
				bundles[host] = registryCAPEM(t, r)
			}
			cfg := loadAzureConfig(t, map[string]any{
				"name": "azureManagedIdentity", "clientID": clientID, "tenantID": azureTenant, "endpoints": []string{r.Host()},
			}, bundles, root)

			res, err := verifyRef(t, cfg, BuildOptions{}, r.Host()+"/app:v1")
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "TLS certificate not trusted") {
					t.Fatalf("verify: err = %v, want %v naming the untrusted certificate", err, tc.want)
				}
				if n := front.Exchanges(); n != 0 {
					t.Errorf("exchanges = %d, want 0", n)
				}
				return
			}
			if err != nil || !res.IsSuccess {
				t.Fatalf("verify = %+v, %v; want success", res, err)
			}
			if n := front.Exchanges(); n != 1 {
				t.Errorf("exchanges = %d, want 1", n)
			}
			checkACRRequests(t, front)
		})
	}
}
