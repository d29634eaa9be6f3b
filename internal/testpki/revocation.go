package testpki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// server is an HTTP server on a loopback port. It has no ServeMux: a mux
// would clean and redirect OCSP GET paths, whose base64 may hold "//".
type server struct {
	URL      string
	srv      *http.Server
	requests atomic.Int64
}

func serve(path string, h http.HandlerFunc) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{URL: "http://" + ln.Addr().String() + path}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.requests.Add(1)
			h(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Requests returns how many HTTP requests the server has received, so that
// tests can tell whether an OCSP response or CRL came from a cache.
func (s *server) Requests() int64 { return s.requests.Load() }

// Close stops the server and waits for its requests to end.
func (s *server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// revocationList is the set of revoked serial numbers of one issuer.
type revocationList struct {
	mu      sync.Mutex
	revoked map[string]time.Time
}

func (l *revocationList) revoke(serial *big.Int, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.revoked == nil {
		l.revoked = map[string]time.Time{}
	}
	l.revoked[serial.String()] = at
}

func (l *revocationList) revokedAt(serial *big.Int) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.revoked[serial.String()]
	return at, ok
}

// OCSPResponder is an RFC 6960 OCSP responder on a loopback port for the
// certificates one CA issued; it answers "good" unless told otherwise.
// Put its URL in CertOptions.OCSPServer of the certificates it covers.
type OCSPResponder struct {
	*server
	issuer *Certificate
	list   revocationList
}

// NewOCSPResponder starts an RFC 6960 responder that signs its responses
// with issuer's key (the CA-signed form, without a delegated responder).
func NewOCSPResponder(issuer *Certificate) (*OCSPResponder, error) {
	r := &OCSPResponder{issuer: issuer}
	s, err := serve("/ocsp", r.handle)
	if err != nil {
		return nil, err
	}
	r.server = s
	return r, nil
}

// Revoke makes the responder answer "revoked" (RFC 6960 CertStatus) for
// serial from now on.
func (r *OCSPResponder) Revoke(serial *big.Int) { r.list.revoke(serial, time.Now().Add(-time.Minute)) }

func (r *OCSPResponder) handle(w http.ResponseWriter, req *http.Request) {
	raw, err := ocspRequestBytes(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	parsed, err := ocsp.ParseRequest(raw)
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	now := time.Now()
	tmpl := ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: parsed.SerialNumber,
		ThisUpdate:   now.Add(-time.Minute),
		NextUpdate:   now.Add(time.Hour),
	}
	if at, ok := r.list.revokedAt(parsed.SerialNumber); ok {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, at, ocsp.KeyCompromise
	}
	resp, err := ocsp.CreateResponse(r.issuer.Cert, r.issuer.Cert, tmpl, r.issuer.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}

// ocspRequestBytes reads an OCSP request sent by POST or by GET (RFC 6960
// appendix A.1: base64 of the DER request, URL-encoded, as the last path
// element).
func ocspRequestBytes(req *http.Request) ([]byte, error) {
	if req.Method == http.MethodPost {
		return io.ReadAll(io.LimitReader(req.Body, 64<<10))
	}
	_, enc, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	if !ok {
		return nil, errors.New("no OCSP request in path")
	}
	return base64.StdEncoding.DecodeString(enc)
}

// CRLServer serves an RFC 5280 certificate revocation list signed by one
// CA on a loopback port. Put its URL in CertOptions.CRLDistributionPoint of
// the certificates it covers. Every response is freshly signed, valid for
// an hour.
type CRLServer struct {
	*server
	issuer *Certificate
	list   revocationList
	number atomic.Int64
}

// NewCRLServer starts an RFC 5280 CRL distribution point for the
// certificates issuer issued, serving DER CRLs signed by issuer.
func NewCRLServer(issuer *Certificate) (*CRLServer, error) {
	c := &CRLServer{issuer: issuer}
	s, err := serve("/crl", c.handle)
	if err != nil {
		return nil, err
	}
	c.server = s
	return c, nil
}

// Revoke lists serial as revoked (RFC 5280 revokedCertificates, reason
// keyCompromise) in every CRL served from now on.
func (c *CRLServer) Revoke(serial *big.Int) { c.list.revoke(serial, time.Now().Add(-time.Minute)) }

func (c *CRLServer) handle(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(c.number.Add(1)),
		ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(time.Hour),
	}
	c.list.mu.Lock()
	for serial, at := range c.list.revoked {
		n, _ := new(big.Int).SetString(serial, 10)
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: n, RevocationTime: at, ReasonCode: 1})
	}
	c.list.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, c.issuer.Cert, c.issuer.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}
