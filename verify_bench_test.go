package ratify_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// signedImage pushes an image with one Notary Project signature to reg and
// returns its tag and digest references and a config.json trusting the signer.
func signedImage(tb testing.TB, reg *testregistry.Registry) (tagRef, digestRef, configPath string) {
	tb.Helper()
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

	dir := tb.TempDir()
	if err := testpki.WritePEM(filepath.Join(dir, "certs", "root.pem"), root.Cert); err != nil {
		tb.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"store":  map[string]any{"plugins": []any{map[string]any{"name": "oras", "useHttp": true}}},
		"policy": map[string]any{"plugin": map[string]any{"name": "configPolicy", "artifactVerificationPolicies": map[string]string{testpki.ArtifactTypeNotation: "any"}}},
		"verifier": map[string]any{"plugins": []any{map[string]any{
			"name": "notation", "artifactTypes": testpki.ArtifactTypeNotation, "verificationCerts": []string{"certs"},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name": "all", "registryScopes": []string{"*"}, "signatureVerification": map[string]string{"level": "strict"},
				"trustStores": []string{"ca:certs"}, "trustedIdentities": []string{"*"},
			}}},
		}}},
		"crl": map[string]any{"cache": map[string]bool{"enabled": false}},
	})
	configPath = filepath.Join(dir, "config.json")
	if err := os.WriteFile(configPath, cfg, 0o600); err != nil {
		tb.Fatal(err)
	}
	host := reg.Host() + "/bench/app"
	return host + ":v1", host + "@" + subject.Digest.String(), configPath
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
			reg := testregistry.New(b, testregistry.Options{Referrers: c.referrers})
			tagRef, digestRef, configPath := signedImage(b, reg)
			ref := tagRef
			if c.byDigest {
				ref = digestRef
			}
			cfg, err := config.Load(configPath)
			if err != nil {
				b.Fatal(err)
			}
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
			reg := testregistry.New(t, testregistry.Options{Referrers: c.referrers})
			tagRef, digestRef, configPath := signedImage(t, reg)
			ref := tagRef
			if c.byDigest {
				ref = digestRef
			}
			cfg, err := config.Load(configPath)
			if err != nil {
				t.Fatal(err)
			}
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
