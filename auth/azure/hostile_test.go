package azure

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/store/registry"
	orasregistry "oras.land/oras-go/v2/registry"
)

func newTLS(t *testing.T, h http.HandlerFunc) *httptest.Server {
	s := httptest.NewTLSServer(h)
	t.Cleanup(s.Close)
	return s
}

// hostile is a registry that wants credentials: it records what it
// receives and challenges every request.
type hostile struct {
	*httptest.Server
	challenge string // "Bearer" or "Basic"

	mu       sync.Mutex
	requests []string // "METHOD path Authorization=... body-bytes"
	leaked   []string
}

func (h *hostile) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	h.mu.Lock()
	h.requests = append(h.requests, r.Method+" "+r.Host+r.URL.Path)
	if a := r.Header.Get("Authorization"); a != "" {
		h.leaked = append(h.leaked, "Authorization: "+a)
	}
	for _, k := range []string{"access_token", "refresh_token", "password", "client_assertion"} {
		if v := r.Form.Get(k); v != "" {
			h.leaked = append(h.leaked, k+"="+v)
		}
	}
	if strings.HasPrefix(r.URL.Path, "/oauth2/exchange") {
		h.leaked = append(h.leaked, "exchange call")
	}
	h.mu.Unlock()
	if h.challenge == "Basic" {
		w.Header().Set("Www-Authenticate", `Basic realm="hostile"`)
	} else {
		w.Header().Set("Www-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/oauth2/token",service="%s"`, r.Host, r.Host))
	}
	http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
}

// TestHostileHost: registry hosts that are not on the allow-list, some
// made to look like ACR, are all served by a hostile registry that asks for
// credentials. It receives no token and no credential of any kind, no
// exchange is attempted and Entra is never asked for a token.
func TestHostileHost(t *testing.T) {
	e := newEntra(t, testTenant, testAssertion)
	workloadEnv(t, e)
	hosts := []string{
		"evilazurecr.io",           // suffix without the dot
		"x.azurecr.io.evil.com",    // allowed name as a prefix
		"a.b.azurecr.io",           // two labels for one wildcard
		"azurecr.io",               // the bare domain
		"x.azurecr.io:8443",        // allowed name on another port
		"xazurecr.us",              // other clouds' suffixes too
		"myregistry.azurecr.cn.io", //
	}
	for _, challenge := range []string{"Bearer", "Basic"} {
		t.Run(challenge, func(t *testing.T) {
			h := &hostile{challenge: challenge}
			h.Server = newTLS(t, h.serve)
			// Every name resolves to the hostile server; what it may
			// receive, not TLS trust, is under test here.
			tr := http.DefaultTransport.(*http.Transport).Clone()
			addr := h.Listener.Addr().String()
			tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test of what a hostile server receives

			cred, err := WorkloadIdentity(Options{ClientID: testClientID, TenantID: testTenant, Transport: tr, DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			s, err := registry.New(registry.Options{Credential: cred, Transport: tr, MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			for _, host := range hosts {
				c, err := cred(context.Background(), host)
				if err != nil || c != auth.EmptyCredential {
					t.Errorf("credential for %s = %+v, %v; want none", host, c, err)
				}
				ref := orasregistry.Reference{Registry: host, Repository: "app", Reference: "v1"}
				if _, err := s.Resolve(context.Background(), ref); err == nil {
					t.Errorf("resolve %s succeeded against a registry that refuses everything", host)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.requests) < len(hosts) {
				t.Fatalf("the hostile registry saw %d requests, want at least %d: %v", len(h.requests), len(hosts), h.requests)
			}
			if len(h.leaked) != 0 {
				t.Errorf("the hostile registry received %v", h.leaked)
			}
			if n := len(e.TokenRequests()); n != 0 {
				t.Errorf("entra was asked for %d tokens, want 0", n)
			}
		})
	}
}

// TestEndpoints matches hosts exactly, with a wildcard for one first label.
func TestEndpoints(t *testing.T) {
	def, err := NewEndpoints(nil)
	if err != nil {
		t.Fatal(err)
	}
	custom, err := NewEndpoints([]string{"registry.example", "127.0.0.1:5000", "*.corp.example:8443", "[::1]:5001"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		e    Endpoints
		host string
		want bool
	}{
		{def, "myregistry.azurecr.io", true},
		{def, "MyRegistry.AzureCR.io", true},
		{def, "myregistry.azurecr.io:443", true},
		{def, "myregistry.azurecr.us", true},
		{def, "myregistry.azurecr.cn", true},
		{def, "evilazurecr.io", false},
		{def, "x.azurecr.io.evil.com", false},
		{def, "a.b.azurecr.io", false},
		{def, ".azurecr.io", false},
		{def, "azurecr.io", false},
		{def, "x.azurecr.io:5000", false},
		{def, "x.azurecr.io.", false},
		{def, "x.azurecr.io:", false},
		{custom, "registry.example", true},
		{custom, "a.registry.example", false},
		{custom, "127.0.0.1:5000", true},
		{custom, "127.0.0.1", false},
		{custom, "127.0.0.1:5001", false},
		{custom, "team.corp.example:8443", true},
		{custom, "team.corp.example", false},
		{custom, "[::1]:5001", true},
	} {
		if got := tc.e.Allowed(tc.host); got != tc.want {
			t.Errorf("%v Allowed(%q) = %v, want %v", tc.e, tc.host, got, tc.want)
		}
	}
	for _, bad := range []string{"*", "*.", "*.io.*", "a.*.io", "https://x.azurecr.io", "x.azurecr.io/v2", "a..b", "host:", ""} {
		if _, err := NewEndpoints([]string{bad}); err == nil {
			t.Errorf("NewEndpoints(%q) accepted", bad)
		}
	}
}
