package e2e

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// Artifact types of cosign signatures and Sigstore bundles.
const (
	cosignType = "application/vnd.dev.cosign.artifact.sig.v1+json"
	bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// cosignForms are the ways the cosign CLI stores a signature.
var cosignForms = []testratify.CosignForm{testratify.CosignTag, testratify.CosignReferrer, testratify.CosignBundle}

func newCosign(t *testing.T) *testratify.Cosign {
	t.Helper()
	return testratify.NewCosign(t, cosignBin)
}

// cosignConfig writes a config.json whose store looks up cosign's tagged
// signatures and whose cosign verifier has one trust policy for every
// repository trusting the public key files pubs. With notationCA, a
// notation verifier trusting it is configured too. rules are the config
// policy's artifactVerificationPolicies (nil: default "all").
func cosignConfig(t *testing.T, pubs []string, notationCA *x509.Certificate, rules map[string]string) string {
	t.Helper()
	opts := testratify.ConfigOptions{CA: []*x509.Certificate{}}
	if notationCA != nil {
		opts.CA = []*x509.Certificate{notationCA}
	}
	path := writeConfig(t, opts)
	var cfg map[string]any
	if err := json.Unmarshal(must(os.ReadFile(path))(t), &cfg); err != nil {
		t.Fatal(err)
	}
	plugin(cfg, "store")["cosignEnabled"] = true
	keys := make([]any, len(pubs))
	for i, p := range pubs {
		keys[i] = map[string]any{"file": p}
	}
	cosign := map[string]any{
		"name": "cosign", "artifactTypes": cosignType + "," + bundleType,
		// cosign signs with --tlog-upload=false here: no log entry to check.
		"trustPolicies": []any{map[string]any{"name": "default", "version": "1.0.0", "scopes": []string{"*"}, "keys": keys, "tLogVerify": false}},
	}
	verifiers := []any{cosign}
	if notationCA != nil {
		verifiers = append(verifiers, plugin(cfg, "verifier"))
	}
	cfg["verifier"].(map[string]any)["plugins"] = verifiers
	if rules == nil {
		rules = map[string]string{"default": "all"}
	}
	cfg["policy"].(map[string]any)["plugin"] = map[string]any{"name": "configPolicy", "artifactVerificationPolicies": rules}
	if err := os.WriteFile(path, must(json.Marshal(cfg))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verifyResult runs `ratify verify` and decodes its result, asserting the
// exit code.
func verifyResult(t *testing.T, ref, config string, exit int) result {
	t.Helper()
	o := ratify(t, "verify", "-s", ref, "-c", config)
	wantExit(t, o, exit)
	var res result
	if err := json.Unmarshal([]byte(o.stdout), &res); err != nil {
		t.Fatalf("result: %v: %s", err, o)
	}
	return res
}

// TestVerifyCosignSignature verifies, through the CLI, signatures the real
// cosign CLI made with a key pair and no transparency log, in each of its
// forms (the legacy sha256-<hex>.sig tag, an OCI 1.1 referrer, a Sigstore
// bundle), on registries with and without the referrers API; a key that
// did not sign fails, as cosign verify itself says, and the report says
// which key matched.
func TestVerifyCosignSignature(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		c := newCosign(t)
		key, other := c.GenerateKeyPair("signer"), c.GenerateKeyPair("other")
		trusted := cosignConfig(t, []string{key.Public}, nil, nil)
		untrusted := cosignConfig(t, []string{other.Public}, nil, nil)
		for _, form := range cosignForms {
			t.Run(form.String(), func(t *testing.T) {
				_, ref := pushImage(t, r, "cosign-"+strings.ToLower(form.String()))
				c.Sign(key, ref, form)
				if run := c.Verify(key, ref, form); run.Err != nil {
					t.Fatalf("the reference, cosign verify, refuses the signature: %s", run)
				}

				res := verifyResult(t, ref, trusted, exitPassed)
				if len(res.VerifierReports) != 1 {
					t.Fatalf("%d reports, want one: %+v", len(res.VerifierReports), res)
				}
				rep := res.VerifierReports[0]
				want := cosignType
				if form == testratify.CosignBundle {
					want = bundleType
				}
				if !rep.IsSuccess || rep.VerifierName != "cosign" || rep.ArtifactType != want {
					t.Errorf("report %+v, want a passing cosign report of %s", rep, want)
				}
				ext, _ := json.Marshal(rep.Extensions)
				if !strings.Contains(string(ext), key.Public) || !strings.Contains(string(ext), `"isSuccess":true`) {
					t.Errorf("extensions do not name the matching key %s: %s", key.Public, ext)
				}

				if run := c.Verify(other, ref, form); run.Err == nil {
					t.Fatalf("the reference, cosign verify, accepts another key: %s", run)
				}
				res = verifyResult(t, ref, untrusted, exitFailed)
				if res.IsSuccess || len(res.VerifierReports) != 1 || res.VerifierReports[0].IsSuccess {
					t.Errorf("verified with a key that did not sign: %+v", res)
				}
			})
		}
	})
}

// TestVerifyCosignAndNotation checks both verifiers in one policy: an
// image signed by cosign and by notation passes when both types are
// required ("all" per type), an image with only the cosign signature fails
// that policy and passes one that requires only cosign.
func TestVerifyCosignAndNotation(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	k := registryKind{referrers: true}
	c := newCosign(t)
	key := c.GenerateKeyPair("signer")

	both, root, _ := signed(t, r, k, "both")
	c.Sign(key, both, testratify.CosignTag)
	_, cosignOnly := pushImage(t, r, "cosign-only")
	c.Sign(key, cosignOnly, testratify.CosignBundle)

	requireBoth := cosignConfig(t, []string{key.Public}, root.Cert, map[string]string{
		notationType: "all", cosignType: "any", "default": "all"})
	res := verifyResult(t, both, requireBoth, exitPassed)
	got := map[string]bool{}
	for _, rep := range res.VerifierReports {
		got[rep.VerifierName] = rep.IsSuccess
	}
	if !got["cosign"] || !got["notation"] || len(got) != 2 {
		t.Errorf("reports by verifier %v, want cosign and notation passing", got)
	}

	verifyResult(t, cosignOnly, requireBoth, exitFailed)
	requireCosign := cosignConfig(t, []string{key.Public}, root.Cert, map[string]string{bundleType: "any"})
	verifyResult(t, cosignOnly, requireCosign, exitPassed)
}

// TestVerifyCosignRegistryFailures checks that a registry failing to list
// or serve a cosign signature makes the verification "could not verify"
// (exit 2, the reason on standard error), never "unsigned".
func TestVerifyCosignRegistryFailures(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	c := newCosign(t)
	key := c.GenerateKeyPair("signer")
	config := cosignConfig(t, []string{key.Public}, nil, nil)
	tagged, ref := pushImage(t, r, "tagged")
	c.Sign(key, ref, testratify.CosignTag)
	_, bundled := pushImage(t, r, "bundled")
	c.Sign(key, bundled, testratify.CosignBundle)
	sigTag := "sha256-" + tagged.Digest.Encoded() + ".sig"

	for _, tc := range []struct {
		name   string
		ref    string
		fault  testregistry.Fault
		reason string
	}{
		{"signature tag 503", ref, testregistry.Fault{Kind: testregistry.KindManifest, Reference: sigTag, Status: 503}, "503"},
		{"signature blob 500", ref, testregistry.Fault{Method: "GET", Kind: testregistry.KindBlob, Status: 500}, "500"},
		{"signature blob throttled", ref, testregistry.Fault{Method: "GET", Kind: testregistry.KindBlob, Status: 429, RetryAfter: "1"}, "429"},
		{"referrers listing 500", bundled, testregistry.Fault{Kind: testregistry.KindReferrers, Status: 500}, "500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.ClearFaults()
			r.Inject(tc.fault)
			defer r.ClearFaults()
			o := ratify(t, "verify", "-s", tc.ref, "-c", config)
			wantCouldNotVerify(t, o, tc.reason)
		})
	}
}

// TestVerifyCosignFetchesOnce checks that an image with two cosign
// signatures (two keys) costs one signature manifest and one payload blob:
// the payload is fetched once and checked against every key.
func TestVerifyCosignFetchesOnce(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	c := newCosign(t)
	first, second := c.GenerateKeyPair("first"), c.GenerateKeyPair("second")
	_, ref := pushImage(t, r, "twice")
	c.Sign(first, ref, testratify.CosignTag)
	c.Sign(second, ref, testratify.CosignTag)
	config := cosignConfig(t, []string{second.Public, first.Public}, nil, nil)

	r.Reset()
	res := verifyResult(t, ref, config, exitPassed)
	if got := r.Count("GET", testregistry.KindBlob); got != 1 {
		t.Errorf("%d blob GETs for two signatures sharing one payload, want 1 (%v)", got, r.Counts())
	}
	sigs, _ := res.VerifierReports[0].Extensions["signatures"].([]any)
	if len(sigs) != 2 {
		ext, _ := json.Marshal(res.VerifierReports[0].Extensions)
		t.Errorf("extensions report %d signatures, want both: %s", len(sigs), ext)
	}
}
