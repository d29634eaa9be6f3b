package azure

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/entratest"
	"github.com/openratify/ratify/internal/testregistry"
)

// clock is a settable time shared by a token cache and the fake servers.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newEntra starts a Microsoft Entra authority issuing tokens for Scope to
// testClientID in tenant, for the federated token assertion.
func newEntra(t *testing.T, tenant, assertion string) *entratest.Entra {
	e := entratest.NewEntra(entratest.EntraOptions{TenantID: tenant, ClientID: testClientID, Assertion: assertion, Scope: Scope})
	t.Cleanup(e.Close)
	return e
}

// acrRegistry starts a TLS registry behind an ACR token service that
// accepts the Entra tokens accept does, holding the images app:v1 and
// app2:v1.
func acrRegistry(t *testing.T, clk *clock, accept func(string) bool, lifetime time.Duration) (*testregistry.Registry, *entratest.ACR) {
	front := entratest.NewACR(entratest.ACROptions{TenantID: testTenant, Accept: accept, Lifetime: lifetime, Now: clk.Now})
	r := testregistry.New(t, testregistry.Options{Referrers: true, TLS: true, Handler: front.Wrap})
	r.PushImage(t, "app", "v1")
	r.PushImage(t, "app2", "v1")
	front.Enforce()
	return r, front
}

// trusting returns a transport that trusts the certificates of servers.
func trusting(certs ...*x509.Certificate) *http.Transport {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr
}
