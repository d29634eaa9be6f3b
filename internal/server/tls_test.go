package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/internal/testfiles"
)

// tlsCA is a CA for TLS certificates in tests.
type tlsCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newSerial returns a random certificate serial number.
func newSerial() int64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return n.Int64()
}

func newTLSCA(t *testing.T, name string) *tlsCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(newSerial()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &tlsCA{cert, key}
}

// issue returns a PEM certificate and key for 127.0.0.1 with usage.
func (ca *tlsCA) issue(t *testing.T, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, serialNumber int64) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial := newSerial()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), serial
}

func (ca *tlsCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// writeServerCert puts a new serving certificate into dir and returns its serial.
func writeServerCert(t *testing.T, ca *tlsCA, dir string) int64 {
	t.Helper()
	c, k, n := ca.issue(t, x509.ExtKeyUsageServerAuth)
	// Write the key first and the certificate last, through renames, as a
	// rotation that never exposes a half-written file.
	for _, f := range []struct {
		name string
		data []byte
	}{{keyFile, k}, {certFile, c}} {
		tmp := filepath.Join(dir, "."+f.name)
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// client returns an HTTPS client trusting serverCA, presenting cert if set.
func client(serverCA *tlsCA, cert *tls.Certificate, keepAlive bool) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(serverCA.cert)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: !keepAlive}, Timeout: 30 * time.Second}
}

func TestMutualTLSAndRotation(t *testing.T) {
	serverCA, clientCA, strangerCA := newTLSCA(t, "server CA"), newTLSCA(t, "gatekeeper CA"), newTLSCA(t, "stranger CA")
	certDir := t.TempDir()
	firstSerial := writeServerCert(t, serverCA, certDir)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, clientCA.pem(), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, setup{server: Options{CertDir: certDir, ClientCAFile: caFile}})
	addr := f.run(t)
	url := "https://" + addr + verifyPath

	cp, kp, _ := clientCA.issue(t, x509.ExtKeyUsageClientAuth)
	good, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	sp, skp, _ := strangerCA.issue(t, x509.ExtKeyUsageClientAuth)
	stranger, _ := tls.X509KeyPair(sp, skp)

	postVia := func(c *http.Client) (*http.Response, error) {
		return c.Post(url, "application/json", strings.NewReader(string(requestBody(f.signed))))
	}
	keepAlive := client(serverCA, &good, true)
	resp, err := postVia(keepAlive)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("client with a valid certificate: %v %v", resp, err)
	}
	if resp.TLS.Version != tls.VersionTLS13 || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != firstSerial {
		t.Errorf("TLS version %x, serial %v", resp.TLS.Version, resp.TLS.PeerCertificates[0].SerialNumber)
	}
	resp.Body.Close()

	for name, c := range map[string]*http.Client{"no certificate": client(serverCA, nil, false), "certificate of another CA": client(serverCA, &stranger, false)} {
		if resp, err := postVia(c); err == nil {
			resp.Body.Close()
			t.Errorf("%s: served with status %d, want the handshake refused", name, resp.StatusCode)
		}
	}
	old := client(serverCA, &good, false)
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS12
	if resp, err := postVia(old); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.2 client was served")
	}

	// Rotate the serving certificate on disk: new connections get it, the
	// open connection goes on working.
	newSerial := writeServerCert(t, serverCA, certDir)
	waitFor(t, func() bool {
		resp, err := postVia(client(serverCA, &good, false))
		if err != nil {
			t.Fatalf("during rotation: %v", err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64() == newSerial
	})
	resp, err = postVia(keepAlive)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("open connection after rotation: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestTLSConfigErrors(t *testing.T) {
	f := newFixture(t, setup{server: Options{CertDir: t.TempDir()}})
	f.srv.opts.Addr = "127.0.0.1:0"
	if err := f.srv.Run(t.Context()); !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "TLS certificate in") {
		t.Fatalf("Run with an empty cert dir: %v", err)
	}
	g := newFixture(t, setup{server: Options{ClientCAFile: "ca.crt"}})
	if err := g.srv.Run(t.Context()); !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "needs --cert-dir") {
		t.Fatalf("Run with a client CA but no TLS: %v", err)
	}
}

// TestClientCAFileBounded: a client CA file that is not a regular file, or
// is larger than maxClientCASize, is refused rather than read.
func TestClientCAFileBounded(t *testing.T) {
	certDir := t.TempDir()
	writeServerCert(t, newTLSCA(t, "server CA"), certDir)
	dir := t.TempDir()
	fifo := testfiles.Pipe(t, dir, "fifo.crt")
	large := testfiles.Sized(t, dir, "large.crt", maxClientCASize+1)
	for _, tc := range []struct {
		name, path string
		err        error
	}{
		{"a pipe", fifo, limitedfile.ErrNotRegular},
		{"over the limit", large, errdef.ErrSizeExceedsLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newTLSConfig(certDir, tc.path, slog.New(slog.DiscardHandler))
			if !errors.Is(err, errdef.ErrInvalidConfig) || !errors.Is(err, tc.err) {
				t.Fatalf("newTLSConfig: %v, want ErrInvalidConfig and %v", err, tc.err)
			}
		})
	}
}
