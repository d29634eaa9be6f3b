package faults

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
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testregistry"
)

// tlsCA issues TLS certificates for the provider tests.
type tlsCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTLSCA(t *testing.T, name string) *tlsCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &tlsCA{cert, key}
}

// issue returns a certificate for 127.0.0.1 with usage, as PEM, and as a
// tls.Certificate.
func (ca *tlsCA) issue(t *testing.T, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, pair tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

// TestProviderTLS: the provider speaks TLS 1.3 only, and with
// --ca-cert-file (server.Options.ClientCAFile) only to clients presenting
// a certificate of that CA: a TLS 1.2 client, a client without a
// certificate, and one with a certificate of another CA are refused
// before any request is read; plain HTTP gets no answer but TLS's.
func TestProviderTLS(t *testing.T) {
	for _, mutual := range []bool{false, true} {
		name := map[bool]string{false: "TLS", true: "mutual TLS"}[mutual]
		t.Run(name, func(t *testing.T) {
			noLeaks(t)
			f := newFixture(t, testregistry.Options{Referrers: true})
			serverCA, clientCA, stranger := newTLSCA(t, "server CA"), newTLSCA(t, "gatekeeper CA"), newTLSCA(t, "stranger CA")
			certDir := t.TempDir()
			certPEM, keyPEM, _ := serverCA.issue(t, x509.ExtKeyUsageServerAuth)
			for n, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
				if err := os.WriteFile(filepath.Join(certDir, n), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			opts := server.Options{ConfigPath: writeConfig(t, f.dir, baseConfig()), CertDir: certDir}
			if mutual {
				opts.ClientCAFile = filepath.Join(certDir, "client-ca.pem")
				if err := os.WriteFile(opts.ClientCAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientCA.cert.Raw}), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			p := startProvider(t, opts)
			_, _, gatekeeper := clientCA.issue(t, x509.ExtKeyUsageClientAuth)
			_, _, intruder := stranger.issue(t, x509.ExtKeyUsageClientAuth)
			roots := x509.NewCertPool()
			roots.AddCert(serverCA.cert)
			try := func(maxVersion uint16, certs ...tls.Certificate) error {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: maxVersion, Certificates: certs}, DisableKeepAlives: true}
				defer tr.CloseIdleConnections()
				c := &http.Client{Transport: tr, Timeout: generous}
				resp, err := c.Post(p.URL+"/ratify/gatekeeper/v1/verify", "application/json",
					strings.NewReader(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["`+f.ref("app/signed", f.signed)+`"]}}`))
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				return nil
			}
			if err := try(tls.VersionTLS12, gatekeeper); err == nil {
				t.Error("a TLS 1.2 client was served")
			}
			if err := try(tls.VersionTLS13, gatekeeper); err != nil {
				t.Errorf("a TLS 1.3 client with Gatekeeper's certificate: %v", err)
			}
			noCert, strangerErr := try(tls.VersionTLS13), try(tls.VersionTLS13, intruder)
			if mutual && (noCert == nil || strangerErr == nil) {
				t.Errorf("mutual TLS served a client without a certificate (%v) or with another CA's (%v)", noCert, strangerErr)
			}
			if !mutual && noCert != nil {
				t.Errorf("TLS without client CA refused a client without a certificate: %v", noCert)
			}
			plain := &http.Client{Timeout: generous, Transport: &http.Transport{DisableKeepAlives: true}}
			if resp, err := plain.Post(strings.Replace(p.URL, "https://", "http://", 1)+"/ratify/gatekeeper/v1/verify", "application/json", strings.NewReader("{}")); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("plain HTTP got %d", resp.StatusCode)
				}
			}
		})
	}
}
