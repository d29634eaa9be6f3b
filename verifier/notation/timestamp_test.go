package notation

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/openratify/ratify/internal/testpki"
)

func TestVerifyTimestamp(t *testing.T) {
	tsa, err := testpki.NewTSA()
	if err != nil {
		t.Fatal(err)
	}
	defer tsa.Close()
	otherTSA, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A Notation-layout trust store: the signing root in ca/certs, the
	// TSA's root in tsa/tsa, an unrelated root in tsa/other.
	certDir := t.TempDir()
	for path, c := range map[string]*testpki.Certificate{"ca/certs/root.pem": root, "tsa/other/root.pem": otherTSA} {
		if err := testpki.WritePEM(filepath.Join(certDir, path), c.Cert); err != nil {
			t.Fatal(err)
		}
	}
	if err := testpki.WritePEM(filepath.Join(certDir, "tsa/tsa/root.pem"), tsa.Root); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	valid := newLeaf(t, root, testpki.CertOptions{})
	expired := newLeaf(t, root, testpki.CertOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	signedAt := now.Add(-36 * time.Hour)

	stampedNow := sign(t, valid, image, testpki.SignOptions{TSAURL: tsa.URL, TSARoots: tsa.RootCAs()})
	tsa.SetTime(signedAt)
	stampedBeforeExpiry := sign(t, expired, image, testpki.SignOptions{SigningTime: signedAt, TSAURL: tsa.URL, TSARoots: tsa.RootCAs()})
	tsa.SetTime(time.Time{})
	unstamped := sign(t, valid, image, testpki.SignOptions{})

	verifyTimestamp := func(opt trustpolicy.TimestampOption) func(*trustpolicy.TrustPolicy) {
		return func(p *trustpolicy.TrustPolicy) { p.SignatureVerification.VerifyTimestamp = opt }
	}
	tests := []struct {
		name         string
		sig          *testpki.Signature
		doc          trustpolicy.Document
		wantOK       bool
		wantMessage  string
		wantReason   string
		wantVerified any // the timestamp extension's "verified", nil for no extension
	}{
		{name: "timestamped, TSA trusted", sig: stampedNow, doc: policy(stores("ca:certs", "tsa:tsa")),
			wantOK: true, wantMessage: "signature verification success", wantVerified: true},
		{name: "timestamped, no tsa store in the policy", sig: stampedNow, doc: policy(),
			wantOK: true, wantMessage: "signature verification success", wantVerified: false},
		{name: "timestamped by an untrusted TSA", sig: stampedNow, doc: policy(stores("ca:certs", "tsa:other")),
			wantMessage: "the signature's timestamp does not verify", wantReason: "failed to verify the timestamp countersignature"},
		{name: "not timestamped, verifyTimestamp always", sig: unstamped, doc: policy(stores("ca:certs", "tsa:tsa")),
			wantMessage: "timestamp does not verify", wantReason: "no timestamp countersignature"},
		{name: "not timestamped, afterCertExpiry, certificate valid", sig: unstamped,
			doc:    policy(stores("ca:certs", "tsa:tsa"), verifyTimestamp(trustpolicy.OptionAfterCertExpiry)),
			wantOK: true, wantMessage: "signature verification success"},
		{name: "expired certificate, timestamped before expiry, afterCertExpiry", sig: stampedBeforeExpiry,
			doc:    policy(stores("ca:certs", "tsa:tsa"), verifyTimestamp(trustpolicy.OptionAfterCertExpiry)),
			wantOK: true, wantMessage: "signature verification success", wantVerified: true},
		{name: "expired certificate, timestamped before expiry, always", sig: stampedBeforeExpiry,
			doc:    policy(stores("ca:certs", "tsa:tsa")),
			wantOK: true, wantMessage: "signature verification success", wantVerified: true},
		{name: "expired certificate, timestamp not trusted", sig: stampedBeforeExpiry, doc: policy(),
			wantMessage: "signing certificate expired", wantReason: "expired at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, tc.doc, []string{certDir}, Options{})
			r := verify(t, v, subjectIn("demo"), tc.sig)
			checkReport(t, r, tc.wantOK, tc.wantMessage, tc.wantReason)
			if !tc.wantOK {
				return
			}
			ts, _ := r.Extensions["timestamp"].(map[string]any)
			if tc.wantVerified == nil {
				if ts != nil {
					t.Errorf("timestamp extension %v on an unstamped signature", ts)
				}
				return
			}
			if ts == nil || ts["verified"] != tc.wantVerified {
				t.Errorf("timestamp extension = %v, want verified %v", ts, tc.wantVerified)
			}
			if tc.sig == stampedBeforeExpiry && ts["time"] != signedAt.UTC().Format(time.RFC3339) {
				t.Errorf("timestamp time %v, want %v", ts["time"], signedAt.UTC().Format(time.RFC3339))
			}
		})
	}
}
