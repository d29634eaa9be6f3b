// Package testpki makes the X.509 material that Notary Project signatures
// need in tests and demos: root and intermediate CAs, code-signing and
// timestamping certificates that meet the certificate requirements of the
// Notary Project signature specification
// (https://github.com/notaryproject/specifications/blob/v1.1.0/specs/signature-specification.md#certificate-requirements),
// signatures made with notation-go, the OCI signature manifest that carries
// them, and loopback servers for OCSP (RFC 6960), CRLs (RFC 5280) and RFC 3161
// timestamps.
//
// Nothing here is fit to protect anything: keys live in memory and the
// servers answer whoever asks. Every function returns errors rather than
// failing a test, so the package also serves the `ratify demo` command.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// KeyType selects the algorithm of a generated key. The Notary Project
// signature specification accepts RSA of 2048 bits or more and ECDSA on
// P-256, P-384 and P-521.
type KeyType int

// Key types the Notary Project signature specification ("Algorithm
// Selection") accepts. The zero value is ECDSA P-256, the fastest to
// generate.
const (
	ECDSAP256 KeyType = iota
	ECDSAP384
	RSA2048
	RSA3072
)

// CertOptions choose the fields of a generated certificate. The zero value
// gives a certificate valid from a month ago for a year (a day from an hour
// ago for code-signing certificates), with an ECDSA P-256 key and a subject
// that a Notary Project trusted identity can name (C, ST, O and CN).
type CertOptions struct {
	// Subject is the certificate's subject; zero means
	// "C=US, ST=WA, L=Seattle, O=Ratify Test, CN=<role>".
	Subject pkix.Name
	// NotBefore and NotAfter bound the validity; zero means the default.
	NotBefore, NotAfter time.Time
	KeyType             KeyType
	// OCSPServer is put in the Authority Information Access extension.
	OCSPServer string
	// CRLDistributionPoint is put in the CRL Distribution Points extension.
	CRLDistributionPoint string
}

// Certificate is a certificate, its private key and its chain, as the
// Notary Project signature specification's "Certificate Chain" requires a
// signer to present it.
type Certificate struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// Chain starts with Cert and ends with the self-signed root, in the
	// order a Notary Project signature carries it.
	Chain []*x509.Certificate
}

// Root returns the self-signed certificate at the end of the chain: the
// trust anchor a Notary Project `ca` trust store holds.
func (c *Certificate) Root() *x509.Certificate {
	return c.Chain[len(c.Chain)-1]
}

// NewRootCA makes a self-signed CA certificate (basic constraints CA:true,
// key usage keyCertSign and cRLSign), as the Notary Project certificate
// requirements for root and intermediate CAs ask.
func NewRootCA(opts CertOptions) (*Certificate, error) {
	return issue(caTemplate(), nil, withDefaults(opts, "Ratify Test Root CA", caValidity))
}

// NewIntermediateCA makes a CA certificate issued by c, meeting the same
// Notary Project CA certificate requirements as NewRootCA.
func (c *Certificate) NewIntermediateCA(opts CertOptions) (*Certificate, error) {
	return issue(caTemplate(), c, withDefaults(opts, "Ratify Test Intermediate CA", caValidity))
}

// NewCodeSigning makes a code-signing certificate issued by c that meets
// the Notary Project signature specification's "Signing Certificate"
// requirements: key usage digitalSignature only, extended key usage
// codeSigning, CA:false.
func (c *Certificate) NewCodeSigning(opts CertOptions) (*Certificate, error) {
	tmpl := &x509.Certificate{
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	return issue(tmpl, c, withDefaults(opts, "Ratify Test Signer", leafValidity))
}

// oidExtKeyUsage and oidTimeStamping are RFC 5280's extended key usage
// extension and the id-kp-timeStamping purpose.
var (
	oidExtKeyUsage  = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// NewTimestamping makes a TSA signing certificate issued by c. RFC 3161
// section 2.3 requires its only extended key usage to be timeStamping, in
// an extension marked critical (Go's encoder marks it non-critical, so the
// extension is written by hand).
func (c *Certificate) NewTimestamping(opts CertOptions) (*Certificate, error) {
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtraExtensions:       []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
		BasicConstraintsValid: true,
	}
	return issue(tmpl, c, withDefaults(opts, "Ratify Test TSA", caValidity))
}

func caTemplate() *x509.Certificate {
	return &x509.Certificate{
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            -1,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// validity is a default validity period, relative to now.
type validity struct{ before, after time.Duration }

var (
	caValidity   = validity{before: 30 * 24 * time.Hour, after: 365 * 24 * time.Hour}
	leafValidity = validity{before: time.Hour, after: 24 * time.Hour}
)

func withDefaults(opts CertOptions, cn string, v validity) CertOptions {
	now := time.Now()
	if opts.Subject.CommonName == "" && len(opts.Subject.Organization) == 0 {
		opts.Subject = pkix.Name{
			Country:      []string{"US"},
			Province:     []string{"WA"},
			Locality:     []string{"Seattle"},
			Organization: []string{"Ratify Test"},
			CommonName:   cn,
		}
	}
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-v.before)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.Add(v.after)
	}
	return opts
}

// issue signs tmpl with parent's key (or a new key of its own when parent
// is nil, making a self-signed root).
func issue(tmpl *x509.Certificate, parent *Certificate, opts CertOptions) (*Certificate, error) {
	key, err := newKey(opts.KeyType)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	tmpl.Subject = opts.Subject
	tmpl.NotBefore, tmpl.NotAfter = opts.NotBefore, opts.NotAfter
	if opts.OCSPServer != "" {
		tmpl.OCSPServer = []string{opts.OCSPServer}
	}
	if opts.CRLDistributionPoint != "" {
		tmpl.CRLDistributionPoints = []string{opts.CRLDistributionPoint}
	}
	issuerCert, issuerKey := tmpl, key
	if parent != nil {
		issuerCert, issuerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", opts.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{cert}
	if parent != nil {
		chain = append(chain, parent.Chain...)
	}
	return &Certificate{Cert: cert, Key: key, Chain: chain}, nil
}

func newKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("unknown key type %d", t)
	}
}

// EncodePEM returns certs as concatenated PEM "CERTIFICATE" blocks, the
// file format of the Notary Project trust store specification.
func EncodePEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// WritePEM writes certs as PEM to path, creating its directory. To lay out
// a Notation trust store, write to <dir>/ca/<name>/<file>.pem (or
// signingAuthority/<name>, tsa/<name>), as `notation cert add` does.
func WritePEM(path string, certs ...*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("no certificates to write")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, EncodePEM(certs...), 0o644)
}
