package notation

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
)

func TestNewInvalidConfig(t *testing.T) {
	root, certDir := newRoot(t)
	tmp := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badPEM := write("bad/broken.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
	truncated := write("truncated.pem", "-----BEGIN CERTIFICATE-----\nMIIB")
	keyOnly := write("key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	notCert := write("notes.txt", "hello")
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(tmp, "layout")
	if err := testpki.WritePEM(filepath.Join(layout, "ca", "dev", "root.pem"), root.Cert); err != nil {
		t.Fatal(err)
	}
	leaf := newLeaf(t, root, testpki.CertOptions{})
	leafLayout := filepath.Join(tmp, "leaflayout")
	if err := testpki.WritePEM(filepath.Join(leafLayout, "ca", "certs", "leaf.pem"), leaf.Cert); err != nil {
		t.Fatal(err)
	}
	strayLayout := filepath.Join(tmp, "stray")
	if err := testpki.WritePEM(filepath.Join(strayLayout, "ca", "certs", "root.pem"), root.Cert); err != nil {
		t.Fatal(err)
	}
	if err := testpki.WritePEM(filepath.Join(strayLayout, "root.pem"), root.Cert); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		certs   []string
		doc     trustpolicy.Document
		opts    Options
		wantMsg string
	}{
		{"unsupported policy version", []string{certDir}, trustpolicy.Document{Version: "2.0", TrustPolicies: policy().TrustPolicies},
			Options{}, `unsupported version "2.0"`},
		{"no trust policies", []string{certDir}, trustpolicy.Document{Version: "1.0"}, Options{}, "zero trust policy statements"},
		{"invalid level", []string{certDir}, policy(level("paranoid")), Options{}, `invalid signature verification level "paranoid"`},
		{"missing trusted identities", []string{certDir}, policy(identities()), Options{}, "missing trust stores or trusted identities"},
		{"malformed trust store", []string{certDir}, policy(stores("certs")), Options{}, "malformed trust store"},
		{"certificate does not parse", []string{badPEM}, policy(), Options{}, badPEM},
		{"bad file inside a directory", []string{filepath.Dir(badPEM)}, policy(), Options{}, badPEM},
		{"truncated PEM", []string{truncated}, policy(), Options{}, truncated + ": malformed PEM block"},
		{"PEM without certificate", []string{keyOnly}, policy(), Options{}, keyOnly + ": no PEM CERTIFICATE block"},
		{"neither PEM nor DER", []string{notCert}, policy(), Options{}, notCert + ": neither PEM nor DER"},
		{"empty directory is the only source", []string{empty}, policy(), Options{}, `names trust store "ca:certs"`},
		{"missing directory is the only source", []string{filepath.Join(tmp, "nope")}, policy(), Options{}, `provide no certificate`},
		{"layout lacks the named store", []string{layout}, policy(), Options{}, `names trust store "ca:certs"`},
		{"layout holds a leaf that is not self-signed", []string{leafLayout}, policy(), Options{}, "not a CA certificate or self-signed"},
		{"layout with a stray file", []string{strayLayout}, policy(), Options{}, "holds only the directories"},
		{"CRL cache directory cannot be made", []string{certDir}, policy(), Options{CRLCacheDir: filepath.Join(badPEM, "crl")}, "CRL cache"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{VerificationCerts: tc.certs, TrustPolicyDoc: tc.doc}, tc.opts)
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("New: %v, want it to mention %q", err, tc.wantMsg)
			}
		})
	}
}

func TestNewTolerates(t *testing.T) {
	_, certDir := newRoot(t)
	for _, tc := range []struct {
		name  string
		certs []string
		doc   trustpolicy.Document
	}{
		{"a missing directory beside one that serves the store", []string{filepath.Join(t.TempDir(), "nope"), certDir}, policy()},
		{"no certificates when every policy skips", nil, policy(level("skip"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(Config{VerificationCerts: tc.certs, TrustPolicyDoc: tc.doc}, Options{}); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestNewDoesNotAliasConfig(t *testing.T) {
	_, certDir := newRoot(t)
	doc := policy()
	v := newVerifier(t, doc, []string{certDir}, Options{})
	doc.TrustPolicies[0].RegistryScopes[0] = "127.0.0.1:5000/elsewhere"
	if _, err := v.policy.GetApplicableTrustPolicy(subjectIn("demo").String()); err != nil {
		t.Errorf("changing the caller's document changed the verifier's: %v", err)
	}
}
