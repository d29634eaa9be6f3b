// Package kvtest runs a local Azure Key Vault and Microsoft Entra token
// endpoint over HTTPS on loopback, speaking the documented REST protocols
// that the official SDKs (azsecrets, azkeys, azidentity) use, for tests:
//
//   - Key Vault (https://learn.microsoft.com/rest/api/keyvault/): GET
//     /secrets/{name}/{version}, /secrets/{name}/versions,
//     /keys/{name}/{version}, /keys/{name}/versions, with the bearer
//     challenge of Key Vault authentication (401 with WWW-Authenticate
//     "Bearer authorization=..., resource=...") and Key Vault's errors
//     (403 with inner code SecretDisabled or KeyDisabled, 404).
//   - Microsoft Entra (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
//     the OpenID configuration document and the client credentials grant,
//     with a client secret or a federated client assertion
//     (internal/entratest's Entra).
//
// Point azidentity at Entra (AZURE_AUTHORITY_HOST or the cloud
// configuration) and a vault client at Vault. The challenge names the
// resource https://<vault host without its first label>, as the real
// vault names https://vault.azure.net for NAME.vault.azure.net, so the
// SDK's challenge resource verification passes for 127.0.0.1:PORT.
package kvtest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/openratify/ratify/internal/entratest"
)

// Server is a local Key Vault with its Entra token endpoint.
type Server struct {
	// Vault and Entra are the two HTTPS servers; both present
	// httptest's certificate, which CertPool and CertPEM trust.
	Vault, Entra *httptest.Server
	// TenantID is the tenant the vault's challenge names and tokens are
	// issued in; ClientSecret and Assertion are the credentials accepted.
	TenantID, ClientID, ClientSecret, Assertion string

	entra *entratest.Entra

	mu      sync.Mutex
	objects map[string][]*object // by "secrets/NAME" or "keys/NAME", oldest first
	down    bool
	clock   time.Time
	counts  map[string]int
}

type object struct {
	version     string
	enabled     bool
	created     time.Time
	expires     time.Time
	contentType string
	value       string         // secrets
	jwk         map[string]any // keys
}

// New starts the servers; Close stops them.
func New() *Server {
	s := &Server{
		TenantID:     "00000000-0000-0000-0000-00000000000a",
		ClientID:     "00000000-0000-0000-0000-00000000000c",
		ClientSecret: "local-secret",
		Assertion:    "local.federated.token",
		objects:      map[string][]*object{},
		clock:        time.Now().Add(-time.Hour).Truncate(time.Second),
		counts:       map[string]int{},
	}
	s.Vault = httptest.NewTLSServer(http.HandlerFunc(s.serveVault))
	s.entra = entratest.NewEntra(entratest.EntraOptions{
		TenantID:     s.TenantID,
		ClientID:     s.ClientID,
		Assertion:    s.Assertion,
		ClientSecret: s.ClientSecret,
		Scope:        s.resource() + "/.default",
	})
	s.Entra = s.entra.Server
	return s
}

// Close stops both servers.
func (s *Server) Close() {
	s.Vault.Close()
	s.Entra.Close()
}

// CertPool trusts both servers.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Vault.Certificate())
	return pool
}

// CertPEM is the servers' certificate in PEM, for SSL_CERT_FILE.
func (s *Server) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Vault.Certificate().Raw})
}

// Client is an HTTP client trusting both servers.
func (s *Server) Client() *http.Client { return s.Vault.Client() }

// SetDown makes the vault answer 503 to everything (true) or serve again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests returns how many requests the vault answered for path
// ("/secrets/NAME/versions", "/secrets/NAME/VERSION"), authenticated or not.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// AddSecret adds a new version of secret name and returns its version ID;
// each version is created a second after the previous one.
func (s *Server) AddSecret(name, contentType, value string) string {
	return s.add("secrets/"+name, &object{contentType: contentType, value: value})
}

// AddKey adds a new version of key name, given as the members of its JSON
// Web Key (RFC 7517: kty, n, e or crv, x, y), and returns its version ID.
func (s *Server) AddKey(name string, jwk map[string]any) string {
	return s.add("keys/"+name, &object{jwk: jwk})
}

// SetEnabled enables or disables one version ("secrets/NAME" or "keys/NAME").
func (s *Server) SetEnabled(object, version string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.objects[object] {
		if o.version == version {
			o.enabled = enabled
		}
	}
}

// SetExpires sets one version's expiry attribute.
func (s *Server) SetExpires(object, version string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.objects[object] {
		if o.version == version {
			o.expires = at
		}
	}
}

func (s *Server) add(key string, o *object) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = s.clock.Add(time.Second)
	o.version, o.enabled, o.created = randomHex(16), true, s.clock
	s.objects[key] = append(s.objects[key], o)
	return o.version
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// resource is the challenge's resource for the vault: its host without
// the first label.
func (s *Server) resource() string {
	host := strings.TrimPrefix(s.Vault.URL, "https://")
	_, parent, _ := strings.Cut(host, ".")
	return "https://" + parent
}

func (s *Server) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.entra.Valid(token)
}
