package gatekeeper

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tlsMaterial is the X.509 material of one Gatekeeper installation: a CA,
// ratify's server certificate for 127.0.0.1 (in a directory laid out as
// `ratify serve --cert-dir` reads it) and Gatekeeper's client certificate,
// both issued by the CA, as Gatekeeper's cert-controller and ratify's chart
// arrange them.
type tlsMaterial struct {
	// CAFile is the CA certificate (PEM): ratify's --ca-cert-file, and what
	// the Provider's caBundle holds.
	CAFile string
	// CertDir holds tls.crt and tls.key, ratify's server certificate.
	CertDir string
	// ClientCert and ClientKey are Gatekeeper's client certificate and key
	// (PEM), as Gatekeeper's cert watcher reads them.
	ClientCert, ClientKey string
}

// CABundle returns the CA certificate as a Provider's spec.caBundle holds it:
// the base64 of the PEM.
func (m *tlsMaterial) CABundle(t testing.TB) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(must(os.ReadFile(m.CAFile))(t))
}

// newTLSMaterial makes a CA and the certificates it issues into a new
// temporary directory.
func newTLSMaterial(t testing.TB) *tlsMaterial {
	t.Helper()
	dir := t.TempDir()
	m := &tlsMaterial{
		CAFile:     filepath.Join(dir, "ca.crt"),
		CertDir:    filepath.Join(dir, "server"),
		ClientCert: filepath.Join(dir, "client", "tls.crt"),
		ClientKey:  filepath.Join(dir, "client", "tls.key"),
	}
	ca, caKey := issue(t, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "gatekeeper test CA"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, nil)
	writeCert(t, m.CAFile, "", ca, nil)

	server, serverKey := issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "ratify.gatekeeper-system"},
		DNSNames:    []string{"ratify.gatekeeper-system", "ratify.gatekeeper-system.svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	writeCert(t, filepath.Join(m.CertDir, "tls.crt"), filepath.Join(m.CertDir, "tls.key"), server, serverKey)

	client, clientKey := issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "gatekeeper-webhook-service.gatekeeper-system.svc"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	writeCert(t, m.ClientCert, m.ClientKey, client, clientKey)
	return m
}

// issue completes tmpl (serial number, validity, a new ECDSA P-256 key) and
// signs it with parentKey, or self-signs it when parent is nil.
func issue(t testing.TB, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
	tmpl.SerialNumber = must(rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)))(t)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey))(t)
	return must(x509.ParseCertificate(der))(t), key
}

// writeCert writes cert to certPath and, when keyPath is set, key to keyPath
// (PKCS #8), both PEM, creating their directories.
func writeCert(t testing.TB, certPath, keyPath string, cert *x509.Certificate, key crypto.Signer) {
	t.Helper()
	write := func(path, blockType string, der []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certPath, "CERTIFICATE", cert.Raw)
	if keyPath != "" {
		write(keyPath, "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key))(t))
	}
}
