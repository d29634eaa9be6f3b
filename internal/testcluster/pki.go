package testcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made for one test: a self-signed ECDSA P-256
// certificate and its key, valid for two days. It issues the certificates a
// control plane needs (RFC 5280 profiles: serving certificates with IP and DNS
// subject alternative names, client certificates whose subject Kubernetes
// reads as user and groups).
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA makes a CA whose subject's common name is name.
func NewCA(name string) (*CA, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	cert, key, err := issue(tmpl, nil, nil)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// PEM returns the CA certificate, PEM-encoded.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Bundle returns the base64 of PEM, as Kubernetes' caBundle fields
// (webhook configurations, Gatekeeper Providers) hold it.
func (ca *CA) Bundle() string {
	return base64.StdEncoding.EncodeToString(ca.PEM())
}

// WriteCert writes the CA certificate (PEM) to path, creating its directory.
func (ca *CA) WriteCert(path string) error {
	return writeFile(path, ca.PEM())
}

// Leaf describes a certificate for CA.Issue to issue.
type Leaf struct {
	// CommonName and Organization make the subject. Kubernetes reads a
	// client certificate's common name as the user name and its
	// organizations as the groups.
	CommonName   string
	Organization []string
	// Hosts are the subject alternative names: IP addresses or DNS names.
	Hosts []string
	// Server and Client select the extended key usages serverAuth and
	// clientAuth.
	Server, Client bool
}

// Issue issues a certificate for leaf and writes it and its key (PKCS #8),
// PEM-encoded, to certPath and keyPath, creating their directories.
func (ca *CA) Issue(leaf Leaf, certPath, keyPath string) error {
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: leaf.CommonName, Organization: leaf.Organization},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	for _, h := range leaf.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if leaf.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if leaf.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	cert, key, err := issue(tmpl, ca.Cert, ca.Key)
	if err != nil {
		return err
	}
	if err := writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})); err != nil {
		return err
	}
	return writeKey(keyPath, key)
}

// IssueServing issues a serving certificate for hosts and writes it as
// tls.crt and tls.key into dir, the layout of a Kubernetes TLS secret (and of
// `ratify serve --cert-dir`).
func (ca *CA) IssueServing(dir string, hosts ...string) error {
	return ca.Issue(Leaf{CommonName: hosts[0], Hosts: hosts, Server: true},
		filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
}

// issue completes tmpl (serial number, validity, a new ECDSA P-256 key) and
// signs it with parentKey, or self-signs it when parent is nil.
func issue(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(48 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// newKeyPair writes a new ECDSA P-256 private key (PKCS #8) to keyPath and
// its public key (PKIX) to pubPath: the key pair with which kube-apiserver
// signs and checks service account tokens.
func newKeyPair(keyPath, pubPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	return writeFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// writeKey writes key, PKCS #8 and PEM-encoded, to path.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// writeFile writes data to path (mode 0600), creating its directory.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
