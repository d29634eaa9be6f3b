package azure

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/auth/token"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/entratest"
	"github.com/openratify/ratify/internal/testregistry"
	"github.com/openratify/ratify/store/registry"
)

const (
	testTenant    = "72f988bf-0000-0000-0000-000000000000"
	testClientID  = "11111111-2222-3333-4444-555555555555"
	testAssertion = "federated-service-account-token"
)

// workloadEnv points azidentity's WorkloadIdentityCredential at e.
func workloadEnv(t *testing.T, e *entratest.Entra) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(testAssertion), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	t.Setenv("AZURE_AUTHORITY_HOST", e.URL)
	t.Setenv("AZURE_CLIENT_ID", "")
	t.Setenv("AZURE_TENANT_ID", "")
}

func registryCert(t *testing.T, r *testregistry.Registry) *x509.Certificate {
	data, err := os.ReadFile(r.CAFile(t))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestWorkloadIdentity pulls through a store whose credentials come from
// workload identity: the federated token goes to Entra, Entra's token to the
// registry's /oauth2/exchange, and oras-go gets access tokens with the
// refresh token. The refresh token nears its expiry mid-run and is replaced
// in the background; no request fails, and concurrent callers after its
// expiry share one exchange.
func TestWorkloadIdentity(t *testing.T) {
	clk := newClock()
	e := newEntra(t, testTenant, testAssertion)
	workloadEnv(t, e)
	r, front := acrRegistry(t, clk, e.Valid, time.Hour)
	rt := trusting(e.Certificate(), registryCert(t, r))

	cred, err := WorkloadIdentity(Options{ClientID: testClientID, TenantID: testTenant,
		Endpoints: []string{r.Host()}, Transport: rt, DisableInstanceDiscovery: true, Cache: token.Options{Now: clk.Now}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := registry.New(registry.Options{Credential: cred, Transport: rt, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resolve := func(repo string) {
		t.Helper()
		if _, err := s.Resolve(ctx, r.Reference(repo, "v1")); err != nil {
			t.Fatalf("resolve %s at %s: %v", repo, clk.Now(), err)
		}
	}

	resolve("app")
	if n := front.Exchanges(); n != 1 {
		t.Fatalf("exchanges after the first pull = %d, want 1", n)
	}
	if n := len(e.TokenRequests()); n != 1 {
		t.Fatalf("entra token requests = %d, want 1", n)
	}

	// 56 minutes in, the refresh token has 4 left: a new scope asks for
	// credentials, receives the old token at once and starts a refresh.
	clk.Advance(56 * time.Minute)
	resolve("app2")
	for front.Exchanges() < 2 {
		time.Sleep(time.Millisecond)
	}

	// Past the old token's expiry the registry refuses its access tokens;
	// oras-go asks again and gets the refreshed one: no new exchange.
	clk.Advance(5 * time.Minute)
	resolve("app")
	if n := front.Exchanges(); n != 2 {
		t.Fatalf("exchanges after the old token expired = %d, want 2 (refreshed ahead)", n)
	}

	// Past every token's expiry, concurrent pulls share one exchange.
	clk.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { resolve("app"); resolve("app2") })
	}
	wg.Wait()
	if n := front.Exchanges(); n != 3 {
		t.Fatalf("exchanges after concurrent pulls = %d, want 3", n)
	}
	if refused := front.Refused(); len(refused) != 0 {
		t.Fatalf("the registry refused token requests: %v", refused)
	}
}

// TestWorkloadIdentityErrors: an identity Entra refuses is an error of the
// credential function that wraps errdef.ErrUnauthorized; an exchange that
// cannot be made (no TLS) wraps errdef.ErrRegistryUnavailable instead; a
// missing token file is a configuration error.
func TestWorkloadIdentityErrors(t *testing.T) {
	clk := newClock()
	e := newEntra(t, testTenant, testAssertion)
	workloadEnv(t, e)
	r, _ := acrRegistry(t, clk, e.Valid, time.Hour)
	rt := trusting(e.Certificate(), registryCert(t, r))
	ctx := context.Background()

	cred, err := WorkloadIdentity(Options{ClientID: testClientID, TenantID: "other-tenant",
		Endpoints: []string{r.Host()}, Transport: rt, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	// Entra has no such tenant.
	if _, err := cred(ctx, r.Host()); !errors.Is(err, errdef.ErrUnauthorized) {
		t.Errorf("unknown tenant: err = %v, want ErrUnauthorized", err)
	}

	plain := testregistry.New(t, testregistry.Options{Referrers: true})
	cred, err = WorkloadIdentity(Options{ClientID: testClientID, TenantID: testTenant,
		Endpoints: []string{plain.Host()}, Transport: rt, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred(ctx, plain.Host()); !errors.Is(err, errdef.ErrRegistryUnavailable) || errors.Is(err, errdef.ErrUnauthorized) {
		t.Errorf("exchange with a plain-HTTP registry: err = %v, want ErrRegistryUnavailable only", err)
	}

	if err := os.WriteFile(os.Getenv("AZURE_FEDERATED_TOKEN_FILE"), []byte("forged"), 0o600); err != nil {
		t.Fatal(err)
	}
	cred, err = WorkloadIdentity(Options{ClientID: testClientID, TenantID: testTenant,
		Endpoints: []string{r.Host()}, Transport: rt, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred(ctx, r.Host()); !errors.Is(err, errdef.ErrUnauthorized) {
		t.Errorf("forged assertion: err = %v, want ErrUnauthorized", err)
	}

	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", "")
	if _, err := WorkloadIdentity(Options{ClientID: testClientID, TenantID: testTenant}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("no token file: err = %v, want ErrInvalidConfig", err)
	}
	if _, err := WorkloadIdentity(Options{ClientID: testClientID, TenantID: testTenant, Endpoints: []string{"*"}}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("bad endpoint: err = %v, want ErrInvalidConfig", err)
	}
}

// TestManagedIdentity gets the Entra token from a managed identity endpoint
// (App Service's protocol, selected by IDENTITY_ENDPOINT and
// IDENTITY_HEADER as azidentity documents) and pulls with it.
func TestManagedIdentity(t *testing.T) {
	clk := newClock()
	clientID := entratest.NewClientID()
	mi := entratest.NewManagedIdentity(entratest.ManagedIdentityOptions{Header: "secret-header", ClientID: clientID,
		Resource: strings.TrimSuffix(Scope, "/.default")})
	t.Cleanup(mi.Close)
	t.Setenv("IDENTITY_ENDPOINT", mi.Endpoint())
	t.Setenv("IDENTITY_HEADER", "secret-header")
	t.Setenv("AZURE_TENANT_ID", testTenant)
	r, front := acrRegistry(t, clk, mi.Valid, time.Hour)
	rt := trusting(registryCert(t, r))

	cred, err := ManagedIdentity(Options{ClientID: clientID, Endpoints: []string{r.Host()}, Transport: rt,
		Cache: token.Options{Now: clk.Now}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := registry.New(registry.Options{Credential: cred, Transport: rt, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(context.Background(), r.Reference("app", "v1")); err != nil {
		t.Fatal(err)
	}
	if n := front.Exchanges(); n != 1 {
		t.Fatalf("exchanges = %d, want 1", n)
	}
	if reqs := mi.Requests(); len(reqs) != 1 || !reqs[0].Issued {
		t.Fatalf("identity endpoint requests = %+v, want one that was answered", reqs)
	}
	c, err := cred(context.Background(), r.Host())
	if err != nil || c.Username != TokenUsername || c.RefreshToken == "" || c.Password != "" {
		t.Fatalf("credential = %+v, %v; want a refresh token for %s", c, err, TokenUsername)
	}
	if c, err := cred(context.Background(), "elsewhere.example"); err != nil || c != auth.EmptyCredential {
		t.Fatalf("credential for a host not allowed = %+v, %v; want none", c, err)
	}
}
