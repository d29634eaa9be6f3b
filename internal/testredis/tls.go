package testredis

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testpki"
)

// TLSFiles are the PEM files of a server that speaks TLS.
type TLSFiles struct {
	// CertFile and KeyFile are the server's certificate, for 127.0.0.1,
	// and its key; CAFile is the CA that issued it, which clients trust.
	CertFile, KeyFile, CAFile string
}

// NewTLS makes a CA and a server certificate it issued for 127.0.0.1 and
// writes them to a temporary directory of t. Each call makes another CA, so
// that a client trusting one call's CAFile rejects another's server.
func NewTLS(t testing.TB) *TLSFiles {
	t.Helper()
	ca, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// testpki makes Notary Project certificates; a TLS server's is made here.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "testredis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &TLSFiles{CertFile: filepath.Join(dir, "redis.crt"), KeyFile: filepath.Join(dir, "redis.key"), CAFile: filepath.Join(dir, "ca.crt")}
	for path, block := range map[string]*pem.Block{
		f.CertFile: {Type: "CERTIFICATE", Bytes: der},
		f.KeyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := testpki.WritePEM(f.CAFile, ca.Cert); err != nil {
		t.Fatal(err)
	}
	return f
}

// Config returns a client's TLS configuration that trusts f's CA alone.
func (f *TLSFiles) Config(t testing.TB) *tls.Config {
	t.Helper()
	data, err := os.ReadFile(f.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", f.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
