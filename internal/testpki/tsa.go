package testpki

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/digitorus/timestamp"
)

// testTSAPolicy is the TSA policy OID the test authority stamps under (an
// arbitrary arc; RFC 3161 leaves the policy to the authority).
var testTSAPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}

// TSA is an RFC 3161 time-stamping authority on a loopback port, with its
// own root CA and a timestamping certificate that meets RFC 3161 section
// 2.3 and the Notary Project's timestamping certificate requirements. Its
// clock can be set, to prove a signature older than it is.
type TSA struct {
	*server
	// Root is the authority's self-signed root: what a `tsa` trust store
	// of a Notary Project trust policy must hold.
	Root *x509.Certificate
	// Signing is the authority's timestamping certificate.
	Signing *Certificate

	mu sync.Mutex
	at time.Time
}

// NewTSA makes an RFC 3161 TSA with a new root and timestamping
// certificate, each valid from a month ago for a year, and starts it.
func NewTSA() (*TSA, error) {
	root, err := NewRootCA(CertOptions{})
	if err != nil {
		return nil, err
	}
	signing, err := root.NewTimestamping(CertOptions{})
	if err != nil {
		return nil, err
	}
	t := &TSA{Root: root.Cert, Signing: signing}
	s, err := serve("/tsa", t.handle)
	if err != nil {
		return nil, err
	}
	t.server = s
	return t, nil
}

// SetTime makes the authority stamp at (the RFC 3161 TSTInfo genTime)
// instead of the current time; the zero time restores the current time.
func (t *TSA) SetTime(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.at = at
}

func (t *TSA) now() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.at.IsZero() {
		return time.Now()
	}
	return t.at
}

// RootCAs returns a pool holding the authority's root, for
// SignOptions.TSARoots (the TSA trust anchor of RFC 3161 verification).
func (t *TSA) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(t.Root)
	return pool
}

func (t *TSA) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := timestamp.ParseRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ts := &timestamp.Timestamp{
		HashAlgorithm:     req.HashAlgorithm,
		HashedMessage:     req.HashedMessage,
		Time:              t.now().UTC().Truncate(time.Second),
		Accuracy:          time.Second,
		Nonce:             req.Nonce,
		Policy:            testTSAPolicy,
		AddTSACertificate: req.Certificates,
	}
	resp, err := ts.CreateResponseWithOpts(t.Signing.Cert, t.Signing.Key, crypto.SHA256)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}
