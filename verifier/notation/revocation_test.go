package notation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/internal/testpki"
)

func TestVerifyRevocationOCSP(t *testing.T) {
	root, certDir := newRoot(t)
	inter, err := root.NewIntermediateCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	responder, err := testpki.NewOCSPResponder(inter)
	if err != nil {
		t.Fatal(err)
	}
	defer responder.Close()
	good := newLeaf(t, inter, testpki.CertOptions{OCSPServer: responder.URL})
	revoked := newLeaf(t, inter, testpki.CertOptions{OCSPServer: responder.URL})
	responder.Revoke(revoked.Cert.SerialNumber)

	v := newVerifier(t, policy(), []string{certDir}, Options{})
	checkReport(t, verify(t, v, subjectIn("demo"), sign(t, good, image, testpki.SignOptions{})),
		true, "signature verification success", "")
	checkReport(t, verify(t, v, subjectIn("demo"), sign(t, revoked, image, testpki.SignOptions{})),
		false, "signing certificate is revoked", "is revoked")
	if responder.Requests() != 2 {
		t.Errorf("OCSP responder saw %d requests, want 2", responder.Requests())
	}

	// permissive logs a revocation and passes.
	lenient := newVerifier(t, policy(level("permissive")), []string{certDir}, Options{})
	checkReport(t, verify(t, lenient, subjectIn("demo"), sign(t, revoked, image, testpki.SignOptions{})),
		true, "logged failures: revocation: signing certificate is revoked", "")
}

func TestVerifyRevocationUnknownIsAnError(t *testing.T) {
	root, certDir := newRoot(t)
	responder, err := testpki.NewOCSPResponder(root)
	if err != nil {
		t.Fatal(err)
	}
	leaf := newLeaf(t, root, testpki.CertOptions{OCSPServer: responder.URL})
	sig := sign(t, leaf, image, testpki.SignOptions{})
	if err := responder.Close(); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, policy(), []string{certDir}, Options{})
	r, err := v.Verify(context.Background(), subjectIn("demo"), sig.ManifestDescriptor, memFetcher(sig.Contents()))
	if err == nil || !strings.Contains(err.Error(), "revocation status of the signing certificate could not be determined") {
		t.Errorf("OCSP responder down: Verify = %+v, %v; want a could-not-verify error", r, err)
	}
}

func TestVerifyRevocationCRL(t *testing.T) {
	root, certDir := newRoot(t)
	crls, err := testpki.NewCRLServer(root)
	if err != nil {
		t.Fatal(err)
	}
	defer crls.Close()
	good := newLeaf(t, root, testpki.CertOptions{CRLDistributionPoint: crls.URL})
	revoked := newLeaf(t, root, testpki.CertOptions{CRLDistributionPoint: crls.URL})
	crls.Revoke(revoked.Cert.SerialNumber)

	v := newVerifier(t, policy(), []string{certDir}, Options{})
	checkReport(t, verify(t, v, subjectIn("demo"), sign(t, good, image, testpki.SignOptions{})),
		true, "signature verification success", "")
	checkReport(t, verify(t, v, subjectIn("demo"), sign(t, revoked, image, testpki.SignOptions{})),
		false, "signing certificate is revoked", "is revoked")
}

func TestVerifyCRLCache(t *testing.T) {
	root, certDir := newRoot(t)
	for _, tc := range []struct {
		name         string
		cacheDir     string
		wantRequests int64
	}{
		{"cache off", "", 2},
		{"cache on", filepath.Join(t.TempDir(), "crl"), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crls, err := testpki.NewCRLServer(root)
			if err != nil {
				t.Fatal(err)
			}
			defer crls.Close()
			sig := sign(t, newLeaf(t, root, testpki.CertOptions{CRLDistributionPoint: crls.URL}), image, testpki.SignOptions{})
			v := newVerifier(t, policy(), []string{certDir}, Options{CRLCacheDir: tc.cacheDir})
			for range 2 {
				checkReport(t, verify(t, v, subjectIn("demo"), sig), true, "signature verification success", "")
			}
			if got := crls.Requests(); got != tc.wantRequests {
				t.Errorf("CRL server saw %d requests, want %d", got, tc.wantRequests)
			}
			if tc.cacheDir != "" {
				entries, err := os.ReadDir(tc.cacheDir)
				if err != nil || len(entries) != 1 {
					t.Errorf("cache directory holds %d entries (%v), want 1", len(entries), err)
				}
			}
		})
	}
}

// TestVerifyConcurrent runs verifications of one verifier side by side, as
// the executor does, through the shared CRL cache (run with -race).
func TestVerifyConcurrent(t *testing.T) {
	root, certDir := newRoot(t)
	crls, err := testpki.NewCRLServer(root)
	if err != nil {
		t.Fatal(err)
	}
	defer crls.Close()
	sigs := []*testpki.Signature{
		sign(t, newLeaf(t, root, testpki.CertOptions{CRLDistributionPoint: crls.URL}), image, testpki.SignOptions{}),
		sign(t, newLeaf(t, root, testpki.CertOptions{CRLDistributionPoint: crls.URL}), image, testpki.SignOptions{MediaType: testpki.MediaTypeCOSE}),
	}
	v := newVerifier(t, policy(), []string{certDir}, Options{CRLCacheDir: t.TempDir()})
	var wg sync.WaitGroup
	reports := make([]ratify.Report, 8)
	errs := make([]error, len(reports))
	for i := range reports {
		wg.Go(func() {
			sig := sigs[i%len(sigs)]
			reports[i], errs[i] = v.Verify(context.Background(), subjectIn("demo"), sig.ManifestDescriptor, memFetcher(sig.Contents()))
		})
	}
	wg.Wait()
	for i := range reports {
		if errs[i] != nil || !reports[i].IsSuccess {
			t.Errorf("verification %d: %+v, %v", i, reports[i], errs[i])
		}
	}
}
