package notation

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/internal/testpki"
)

func mustWrite(t *testing.T, path string, certs ...*x509.Certificate) {
	t.Helper()
	if err := testpki.WritePEM(path, certs...); err != nil {
		t.Fatal(err)
	}
}

func newCA(t *testing.T) *testpki.Certificate {
	t.Helper()
	ca, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// serials names the certificates a store serves, for comparison.
func serials(certs []*x509.Certificate) map[string]bool {
	out := map[string]bool{}
	for _, c := range certs {
		out[c.SerialNumber.String()] = true
	}
	return out
}

func TestTrustStoreSources(t *testing.T) {
	rootA, rootB := newCA(t), newCA(t)
	inter, err := rootA.NewIntermediateCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	// A flat directory: a PEM bundle, a DER file, and a Kubernetes volume's
	// hidden data directory reached through symbolic links.
	flat := filepath.Join(tmp, "flat")
	mustWrite(t, filepath.Join(flat, "bundle.pem"), rootA.Cert, inter.Cert)
	if err := os.MkdirAll(filepath.Join(flat, "nested"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(flat, "nested", "b.der"), rootB.Cert.Raw, 0o644); err != nil {
		t.Fatal(err)
	}
	k8s := filepath.Join(tmp, "k8s")
	mustWrite(t, filepath.Join(k8s, "..2024_06_01", "ca.crt"), rootA.Cert)
	for link, target := range map[string]string{"..data": "..2024_06_01", "ca.crt": "..data/ca.crt"} {
		if err := os.Symlink(target, filepath.Join(k8s, link)); err != nil {
			t.Fatal(err)
		}
	}

	// A Notation layout, under x509/ as `notation cert add` makes it.
	layout := filepath.Join(tmp, "truststore")
	mustWrite(t, filepath.Join(layout, "x509", "ca", "a", "a.pem"), rootA.Cert)
	mustWrite(t, filepath.Join(layout, "x509", "ca", "b", "b.pem"), rootB.Cert)
	mustWrite(t, filepath.Join(layout, "x509", "tsa", "b", "b.pem"), rootB.Cert)

	type ask struct {
		typ  truststore.Type
		name string
		want []*x509.Certificate // nil: an error
	}
	tests := []struct {
		name  string
		paths []string
		asks  []ask
	}{
		{"flat serves every store; tsa gets roots only", []string{flat}, []ask{
			{truststore.TypeCA, "anything", []*x509.Certificate{rootA.Cert, inter.Cert, rootB.Cert}},
			{truststore.TypeSigningAuthority, "other", []*x509.Certificate{rootA.Cert, inter.Cert, rootB.Cert}},
			{truststore.TypeTSA, "tsa", []*x509.Certificate{rootA.Cert, rootB.Cert}},
		}},
		{"Kubernetes volume counted once", []string{k8s}, []ask{
			{truststore.TypeCA, "certs", []*x509.Certificate{rootA.Cert}},
		}},
		{"a listed file", []string{filepath.Join(flat, "nested", "b.der")}, []ask{
			{truststore.TypeCA, "certs", []*x509.Certificate{rootB.Cert}},
		}},
		{"layout serves stores by type and name", []string{layout}, []ask{
			{truststore.TypeCA, "a", []*x509.Certificate{rootA.Cert}},
			{truststore.TypeCA, "b", []*x509.Certificate{rootB.Cert}},
			{truststore.TypeTSA, "b", []*x509.Certificate{rootB.Cert}},
			{truststore.TypeTSA, "a", nil},
			{truststore.TypeSigningAuthority, "a", nil},
		}},
		{"layout plus flat", []string{layout, k8s}, []ask{
			{truststore.TypeCA, "b", []*x509.Certificate{rootA.Cert, rootB.Cert}},
			{truststore.TypeSigningAuthority, "x", []*x509.Certificate{rootA.Cert}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := loadTrustStore(tc.paths, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tc.asks {
				got, err := ts.GetCertificates(context.Background(), a.typ, a.name)
				if a.want == nil {
					if err == nil {
						t.Errorf("%s:%s = %d certificates, want an error", a.typ, a.name, len(got))
					}
					continue
				}
				if err != nil {
					t.Errorf("%s:%s: %v", a.typ, a.name, err)
					continue
				}
				if len(got) != len(a.want) || len(serials(got)) != len(serials(a.want)) {
					t.Errorf("%s:%s = %d certificates, want %d", a.typ, a.name, len(got), len(a.want))
				}
				for s := range serials(a.want) {
					if !serials(got)[s] {
						t.Errorf("%s:%s lacks certificate %s", a.typ, a.name, s)
					}
				}
			}
		})
	}
}

func TestVerifyNamedStores(t *testing.T) {
	rootA, rootB := newCA(t), newCA(t)
	layout := t.TempDir()
	mustWrite(t, filepath.Join(layout, "ca", "a", "a.pem"), rootA.Cert)
	mustWrite(t, filepath.Join(layout, "ca", "b", "b.pem"), rootB.Cert)
	sig := sign(t, newLeaf(t, rootA, testpki.CertOptions{}), image, testpki.SignOptions{})

	for _, tc := range []struct {
		store  string
		wantOK bool
		want   string
	}{
		{"ca:a", true, "signature verification success"},
		{"ca:b", false, "signature is not produced by a trusted signer"},
	} {
		t.Run(tc.store, func(t *testing.T) {
			v := newVerifier(t, policy(stores(tc.store)), []string{layout}, Options{})
			checkReport(t, verify(t, v, subjectIn("demo"), sig), tc.wantOK, tc.want, "")
		})
	}
}

// rotatingStore stands for trust material supplied at verification time.
type rotatingStore struct{ certs []*x509.Certificate }

func (s rotatingStore) GetCertificates(context.Context, truststore.Type, string) ([]*x509.Certificate, error) {
	return s.certs, nil
}

func TestVerifyExtraTrustStore(t *testing.T) {
	root := newCA(t)
	sig := sign(t, newLeaf(t, root, testpki.CertOptions{}), image, testpki.SignOptions{})
	v := newVerifier(t, policy(), nil, Options{TrustStore: rotatingStore{certs: []*x509.Certificate{root.Cert}}})
	checkReport(t, verify(t, v, subjectIn("demo"), sig), true, "signature verification success", "")
}
