package entratest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"
)

// ManagedIdentityOptions configure a ManagedIdentity.
type ManagedIdentityOptions struct {
	// Header is the secret the platform puts in $IDENTITY_HEADER; requests
	// must send it as X-IDENTITY-HEADER.
	Header string
	// ClientID is the user-assigned identity served; empty serves the
	// system-assigned identity (requests that name no client ID).
	ClientID string
	// Resource is the one resource tokens are issued for, such as
	// "https://containerregistry.azure.net".
	Resource string
}

// IdentityRequest is what a client sent to the managed identity endpoint.
type IdentityRequest struct {
	Header, ClientID, Resource string
	// Issued reports whether a token was issued for it.
	Issued bool
}

// ManagedIdentity is App Service's managed identity endpoint (GET with
// X-IDENTITY-HEADER and the query parameters api-version, resource and
// client_id), over plain HTTP on loopback. Point azidentity at it with
// $IDENTITY_ENDPOINT set to Endpoint() and $IDENTITY_HEADER to the header.
//
// MSAL keeps managed identity tokens in a cache shared by the whole
// process, by client ID: a test that wants to see the request gives each
// run its own client ID (NewClientID).
type ManagedIdentity struct {
	*httptest.Server
	opts ManagedIdentityOptions

	mu       sync.Mutex
	tokens   map[string]bool
	requests []IdentityRequest
}

// NewManagedIdentity starts a managed identity endpoint on 127.0.0.1;
// Close stops it.
func NewManagedIdentity(opts ManagedIdentityOptions) *ManagedIdentity {
	m := &ManagedIdentity{opts: opts, tokens: map[string]bool{}}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	return m
}

// Endpoint is the value of $IDENTITY_ENDPOINT.
func (m *ManagedIdentity) Endpoint() string { return m.URL + "/msi/token" }

// Valid reports whether token is an access token this endpoint issued.
func (m *ManagedIdentity) Valid(token string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens[token]
}

// Requests returns the token requests received, oldest first.
func (m *ManagedIdentity) Requests() []IdentityRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.requests)
}

func (m *ManagedIdentity) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/msi/token" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	req := IdentityRequest{Header: r.Header.Get("X-IDENTITY-HEADER"), ClientID: q.Get("client_id"), Resource: q.Get("resource")}
	req.Issued = req.Header == m.opts.Header && req.ClientID == m.opts.ClientID &&
		req.Resource == m.opts.Resource && q.Get("api-version") != ""
	token := randomToken("mi")
	m.mu.Lock()
	if req.Issued {
		m.tokens[token] = true
	}
	m.requests = append(m.requests, req)
	m.mu.Unlock()
	if !req.Issued {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unknown identity, resource or header")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": token, "token_type": "Bearer",
		"resource": m.opts.Resource, "expires_on": time.Now().Add(time.Hour).Unix()})
}
