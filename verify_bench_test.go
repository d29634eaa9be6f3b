package ratify_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// coldSetup starts a registry (with or without the referrers API) holding
// an image with one Notary Project signature, and returns the registry, a
// configuration trusting the signer, and the image's reference by digest or
// by tag.
func coldSetup(tb testing.TB, referrers, byDigest bool) (*testregistry.Registry, *config.Config, string) {
	tb.Helper()
	reg := testregistry.New(tb, testregistry.Options{Referrers: referrers})
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := root.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	subject := reg.PushImage(tb, "bench/app", "v1")
	reg.Sign(tb, "bench/app", subject, leaf)
	cfg, err := config.Load(testratify.WriteConfig(tb, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}}))
	if err != nil {
		tb.Fatal(err)
	}
	ref := reg.Host() + "/bench/app:v1"
	if byDigest {
		ref = reg.Host() + "/bench/app@" + subject.Digest.String()
	}
	return reg, cfg, ref
}

// BenchmarkColdVerification verifies a signed image with a new executor and
// store each time (no cache survives an iteration), against an in-process
// registry on loopback, and reports the registry requests per verification.
func BenchmarkColdVerification(b *testing.B) {
	cases := []struct {
		name      string
		referrers bool
		byDigest  bool
	}{
		{"referrers-api/digest", true, true},
		{"referrers-api/tag", true, false},
		{"tag-schema/digest", false, true},
		{"tag-schema/tag", false, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			reg, cfg, ref := coldSetup(b, c.referrers, c.byDigest)
			reg.Reset()
			b.ResetTimer()
			for b.Loop() {
				exec, err := config.Build(cfg, config.BuildOptions{})
				if err != nil {
					b.Fatal(err)
				}
				res, err := exec.Verify(context.Background(), ref, ratify.VerifyOptions{})
				if err != nil || !res.IsSuccess {
					b.Fatalf("verification did not pass: %v %+v", err, res)
				}
			}
			b.ReportMetric(float64(reg.Total())/float64(b.N), "requests/op")
		})
	}
}

// TestColdVerificationRequests pins the registry round trips of one cold
// verification of a signed image: referrers listing, signature manifest and
// signature blob, plus the tag resolution for a tag, plus the referrers API
// probe on a registry without it.
func TestColdVerificationRequests(t *testing.T) {
	cases := []struct {
		name      string
		referrers bool
		byDigest  bool
		want      map[string]int
	}{
		{"referrers-api/digest", true, true, map[string]int{"GET referrers": 1, "GET manifest": 1, "GET blob": 1}},
		{"referrers-api/tag", true, false, map[string]int{"HEAD manifest": 1, "GET referrers": 1, "GET manifest": 1, "GET blob": 1}},
		{"tag-schema/digest", false, true, map[string]int{"GET referrers": 1, "GET manifest": 2, "GET blob": 1}},
		{"tag-schema/tag", false, false, map[string]int{"HEAD manifest": 1, "GET referrers": 1, "GET manifest": 2, "GET blob": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg, cfg, ref := coldSetup(t, c.referrers, c.byDigest)
			exec, err := config.Build(cfg, config.BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			reg.Reset()
			res, err := exec.Verify(context.Background(), ref, ratify.VerifyOptions{})
			if err != nil || !res.IsSuccess {
				t.Fatalf("verification did not pass: %v %+v", err, res)
			}
			got := reg.Counts()
			for k, n := range c.want {
				if got[k] != n {
					t.Errorf("%s: %d requests, want %d (all: %v)", k, got[k], n, got)
				}
			}
			total := 0
			for _, n := range c.want {
				total += n
			}
			if reg.Total() != total {
				t.Errorf("%d requests in all, want %d: %v", reg.Total(), total, got)
			}
		})
	}
}
