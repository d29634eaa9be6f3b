package entratest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ACROptions configure an ACR.
type ACROptions struct {
	// TenantID is the tenant the exchange must name; empty means it must
	// name none.
	TenantID string
	// Accept reports whether a Microsoft Entra access token presented to
	// /oauth2/exchange is genuine: Entra.Valid or ManagedIdentity.Valid.
	Accept func(token string) bool
	// Lifetime is how long refresh tokens live; zero means an hour. Access
	// tokens die with the refresh token they were issued for.
	Lifetime time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Request is a registry request (not one to /oauth2/) an enforcing ACR
// received.
type Request struct {
	Method, Path, Authorization string
	// Authorized reports whether it carried an access token this ACR
	// issued and that was still valid.
	Authorized bool
}

// ACR is Azure Container Registry's token service in front of a registry.
// Its "service" is the registry's host as the client names it (the Host
// header), as ACR's is its login server. Until Enforce, registry requests
// pass without a token, so that a test can push content first.
type ACR struct {
	opts ACROptions

	mu        sync.Mutex
	enforce   bool
	exchanges int
	refresh   map[string]time.Time // refresh token -> expiry
	access    map[string]string    // access token -> its refresh token
	refused   []string
	requests  []Request
}

// NewACR returns a token service; Wrap puts it in front of a registry.
func NewACR(opts ACROptions) *ACR {
	if opts.Lifetime == 0 {
		opts.Lifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &ACR{opts: opts, refresh: map[string]time.Time{}, access: map[string]string{}}
}

// Wrap returns next behind the token service (for testregistry.Options.Handler).
func (a *ACR) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oauth2/exchange":
			a.exchange(w, r)
		case "/oauth2/token":
			a.token(w, r)
		default:
			if !a.authorize(r) {
				challenge := fmt.Sprintf(`Bearer realm="https://%s/oauth2/token",service="%s"`, r.Host, r.Host)
				if repo := repository(r.URL.Path); repo != "" {
					challenge += fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
				}
				w.Header().Set("Www-Authenticate", challenge)
				unauthorized(w)
				return
			}
			next.ServeHTTP(w, r)
		}
	})
}

// Enforce makes registry requests need an access token from now on.
func (a *ACR) Enforce() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.enforce = true
}

// Exchanges returns how many refresh tokens /oauth2/exchange issued.
func (a *ACR) Exchanges() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.exchanges
}

// Refused returns the token requests refused, as "exchange" or "token"
// with the reason.
func (a *ACR) Refused() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.refused)
}

// Requests returns the registry requests received since Enforce.
func (a *ACR) Requests() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// exchange answers POST /oauth2/exchange (grant_type access_token).
func (a *ACR) exchange(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case r.Method != http.MethodPost || f.Get("grant_type") != "access_token":
		a.refuse(w, "exchange: not an access_token grant")
	case f.Get("service") != r.Host || f.Get("tenant") != a.opts.TenantID:
		a.refuse(w, fmt.Sprintf("exchange: service %q, tenant %q", f.Get("service"), f.Get("tenant")))
	case !a.opts.Accept(f.Get("access_token")):
		a.refuse(w, "exchange: not a Microsoft Entra token")
	default:
		a.exchanges++
		exp := a.opts.Now().Add(a.opts.Lifetime)
		rt := unsignedJWT(map[string]any{"exp": exp.Unix(), "jti": randomToken("refresh")})
		a.refresh[rt] = exp
		writeJSON(w, http.StatusOK, map[string]any{"refresh_token": rt})
	}
}

// token answers POST /oauth2/token (grant_type refresh_token).
func (a *ACR) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	a.mu.Lock()
	defer a.mu.Unlock()
	rt := f.Get("refresh_token")
	exp, ok := a.refresh[rt]
	switch {
	case r.Method != http.MethodPost || f.Get("grant_type") != "refresh_token" || f.Get("service") != r.Host:
		a.refuse(w, "token: not a refresh_token grant for "+r.Host)
	case !ok || !a.opts.Now().Before(exp):
		a.refuse(w, "token: unknown or expired refresh token")
	default:
		at := randomToken("access")
		a.access[at] = rt
		writeJSON(w, http.StatusOK, map[string]any{"access_token": at})
	}
}

// authorize records a registry request and reports whether it may pass.
func (a *ACR) authorize(r *http.Request) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.enforce {
		return true
	}
	req := Request{Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization")}
	if at, ok := strings.CutPrefix(req.Authorization, "Bearer "); ok {
		rt, issued := a.access[at]
		req.Authorized = issued && a.opts.Now().Before(a.refresh[rt])
	}
	a.requests = append(a.requests, req)
	return req.Authorized
}

// refuse answers a token request with 401; a.mu is held.
func (a *ACR) refuse(w http.ResponseWriter, why string) {
	a.refused = append(a.refused, why)
	unauthorized(w)
}

func unauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": "authentication required"}}})
}

// repository returns the repository a /v2/ path names, or "".
func repository(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ""
	}
	for _, sep := range []string{"/manifests/", "/blobs/", "/referrers/", "/tags/"} {
		if i := strings.LastIndex(rest, sep); i > 0 {
			return rest[:i]
		}
	}
	return ""
}
