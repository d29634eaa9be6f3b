package entratest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// clientAssertionType is the client_assertion_type of a federated
// credential (RFC 7523).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// EntraOptions configure an Entra. A token request that does not present
// exactly these is refused, as Entra refuses it.
type EntraOptions struct {
	// TenantID is the one tenant served: its OpenID configuration and its
	// token endpoint.
	TenantID string
	// ClientID is the application tokens are issued to.
	ClientID string
	// Assertion is the federated client assertion accepted (Azure workload
	// identity's service account token).
	Assertion string
	// ClientSecret, when set, is accepted as a client secret too.
	ClientSecret string
	// Scope is the one scope tokens are issued for, such as
	// "https://containerregistry.azure.net/.default".
	Scope string
}

// TokenRequest is what a client sent to the token endpoint.
type TokenRequest struct {
	TenantID, ClientID      string
	ClientAssertion, Secret string
	Scope                   string
	// Issued reports whether a token was issued for it.
	Issued bool
}

// Entra is a Microsoft Entra ID authority over HTTPS, presenting
// httptest's certificate. Point azidentity at it with
// $AZURE_AUTHORITY_HOST set to its URL.
type Entra struct {
	*httptest.Server
	opts EntraOptions

	mu       sync.Mutex
	tokens   map[string]bool
	requests []TokenRequest
}

// NewEntra starts an Entra on 127.0.0.1; Close stops it.
func NewEntra(opts EntraOptions) *Entra {
	e := &Entra{opts: opts, tokens: map[string]bool{}}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(e.serve))
	return e
}

// Valid reports whether token is an access token this Entra issued.
func (e *Entra) Valid(token string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokens[token]
}

// TokenRequests returns the requests to the token endpoint, oldest first.
func (e *Entra) TokenRequests() []TokenRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.requests)
}

func (e *Entra) serve(w http.ResponseWriter, r *http.Request) {
	tenant := "/" + e.opts.TenantID
	switch {
	case r.Method == http.MethodGet && r.URL.Path == tenant+"/v2.0/.well-known/openid-configuration":
		base := e.URL + tenant
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                 base + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
		})
	case r.Method == http.MethodPost && r.URL.Path == tenant+"/oauth2/v2.0/token":
		e.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

// token answers the client credentials grant.
func (e *Entra) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	req := TokenRequest{
		TenantID:        e.opts.TenantID,
		ClientID:        f.Get("client_id"),
		ClientAssertion: f.Get("client_assertion"),
		Secret:          f.Get("client_secret"),
		Scope:           f.Get("scope"),
	}
	okAssertion := f.Get("client_assertion_type") == clientAssertionType && req.ClientAssertion == e.opts.Assertion
	okSecret := e.opts.ClientSecret != "" && req.Secret == e.opts.ClientSecret
	token, status, code, description := "", 0, "", ""
	switch {
	case f.Get("grant_type") != "client_credentials":
		status, code, description = http.StatusBadRequest, "unsupported_grant_type", "only client_credentials"
	case req.ClientID != e.opts.ClientID || !(okAssertion || okSecret):
		status, code, description = http.StatusUnauthorized, "invalid_client", "AADSTS7000215: invalid client credentials"
	case !slices.Contains(strings.Fields(req.Scope), e.opts.Scope):
		status, code, description = http.StatusBadRequest, "invalid_scope", "AADSTS70011: scope "+req.Scope
	default:
		token = randomToken("entra")
	}
	req.Issued = token != ""
	e.mu.Lock()
	if req.Issued {
		e.tokens[token] = true
	}
	e.requests = append(e.requests, req)
	e.mu.Unlock()
	if !req.Issued {
		writeOAuthError(w, status, code, description)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token})
}
