package azure

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
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

// entra is a Microsoft Entra ID authority speaking the parts of its
// documented protocol that MSAL uses for a client-credentials grant with a
// federated (client assertion) credential: instance discovery, OpenID
// Connect metadata and the v2.0 token endpoint.
type entra struct {
	*httptest.Server
	tenant    string
	assertion string // the federated token the client must present

	mu     sync.Mutex
	issued []string
	calls  int
}

func newEntra(t *testing.T, tenant, assertion string) *entra {
	e := &entra{tenant: tenant, assertion: assertion}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	return e
}

func (e *entra) serve(w http.ResponseWriter, r *http.Request) {
	base := e.URL
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/common/discovery/instance":
		host := strings.TrimPrefix(base, "https://")
		writeJSON(w, map[string]any{
			"tenant_discovery_endpoint": base + "/" + e.tenant + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
		})
	case r.URL.Path == "/"+e.tenant+"/v2.0/.well-known/openid-configuration":
		writeJSON(w, map[string]any{
			"token_endpoint":         base + "/" + e.tenant + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/" + e.tenant + "/oauth2/v2.0/authorize",
			"issuer":                 base + "/" + e.tenant + "/v2.0",
		})
	case r.Method == http.MethodPost && r.URL.Path == "/"+e.tenant+"/oauth2/v2.0/token":
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") != "client_credentials" ||
			r.PostForm.Get("client_assertion") != e.assertion ||
			!slices.Contains(strings.Fields(r.PostForm.Get("scope")), Scope) {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]any{"error": "invalid_client", "error_description": "bad assertion or scope"})
			return
		}
		e.mu.Lock()
		e.calls++
		tok := fmt.Sprintf("entra-%d", e.calls)
		e.issued = append(e.issued, tok)
		e.mu.Unlock()
		writeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": tok})
	default:
		http.NotFound(w, r)
	}
}

func (e *entra) valid(tok string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.issued {
		if t == tok {
			return true
		}
	}
	return false
}

func (e *entra) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

// acr is Azure Container Registry's token front (POST /oauth2/exchange and
// /oauth2/token, bearer challenges on /v2/) in front of a registry handler.
// Refresh tokens live for lifetime on clk; access tokens die with the
// refresh token they came from.
type acr struct {
	clk      *clock
	service  string
	tenant   string
	lifetime time.Duration
	entra    func(string) bool

	mu        sync.Mutex
	enforce   bool
	exchanges int
	refresh   map[string]time.Time // refresh token -> expiry
	access    map[string]string    // access token -> refresh token
	failures  []string             // requests refused with the credentials they carried
}

func (a *acr) Enforce() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.enforce = true
}

func (a *acr) Exchanges() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.exchanges
}

func (a *acr) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.URL.Path {
		case "/oauth2/exchange":
			_ = r.ParseForm()
			f := r.PostForm
			if r.Method != http.MethodPost || f.Get("grant_type") != "access_token" || f.Get("service") != a.service ||
				f.Get("tenant") != a.tenant || !a.entra(f.Get("access_token")) {
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
			a.exchanges++
			exp := a.clk.Now().Add(a.lifetime)
			rt := jwt(map[string]any{"exp": exp.Unix(), "n": a.exchanges})
			a.refresh[rt] = exp
			writeJSON(w, map[string]any{"refresh_token": rt})
			return
		case "/oauth2/token":
			_ = r.ParseForm()
			f := r.PostForm
			rt := f.Get("refresh_token")
			exp, ok := a.refresh[rt]
			if r.Method != http.MethodPost || f.Get("grant_type") != "refresh_token" || f.Get("service") != a.service ||
				!ok || !a.clk.Now().Before(exp) {
				a.failures = append(a.failures, "token")
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
			at := fmt.Sprintf("access-%d", len(a.access)+1)
			a.access[at] = rt
			writeJSON(w, map[string]any{"access_token": at})
			return
		}
		if a.enforce {
			at, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			rt, ok := a.access[at]
			if !ok || !a.clk.Now().Before(a.refresh[rt]) {
				w.Header().Set("Www-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/oauth2/token",service="%s",scope="repository:app:pull"`, r.Host, a.service))
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
		}
		a.mu.Unlock()
		defer a.mu.Lock()
		next.ServeHTTP(w, r)
	})
}

// jwt returns an unsigned JWT with claims; the registry that issues a
// refresh token is the only one that checks it.
func jwt(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + ".sig"
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
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
