package e2e

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// platformImage is a multi-platform image as `docker buildx build
// --platform linux/amd64,linux/arm64/v8 --push` leaves it: an OCI image
// index (OCI image-spec v1.1) of two platform manifests and buildx's
// attestation manifest, which is no platform.
type platformImage struct {
	tagRef, digestRef  string // the index by tag (v1) and by digest
	amd64Ref, arm64Ref string // the platform manifests by digest
}

// pushPlatformImage pushes the platform manifests, the attestation
// manifest and the index that lists them, tagged v1, to repo.
func pushPlatformImage(t *testing.T, r *testregistry.Registry, repo string) platformImage {
	t.Helper()
	amd64 := pushPlatformManifest(t, r, repo, ocispec.Platform{OS: "linux", Architecture: "amd64"})
	arm64 := pushPlatformManifest(t, r, repo, ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	att := pushPlatformManifest(t, r, repo, ocispec.Platform{OS: "unknown", Architecture: "unknown"})
	att.Annotations = map[string]string{
		"vnd.docker.reference.type":   "attestation-manifest",
		"vnd.docker.reference.digest": amd64.Digest.String(),
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{amd64, arm64, att},
	}
	desc := r.PushManifest(t, repo, "v1", index.MediaType, must(json.Marshal(index))(t))
	at := func(d ocispec.Descriptor) string { return r.Host() + "/" + repo + "@" + d.Digest.String() }
	return platformImage{
		tagRef: r.Host() + "/" + repo + ":v1", digestRef: at(desc),
		amd64Ref: at(amd64), arm64Ref: at(arm64),
	}
}

// pushPlatformManifest pushes, by digest, an image manifest whose config
// names platform p, and returns its descriptor with the platform set, as
// an index lists it.
func pushPlatformManifest(t *testing.T, r *testregistry.Registry, repo string, p ocispec.Platform) ocispec.Descriptor {
	t.Helper()
	config := must(json.Marshal(ocispec.Image{Platform: p, RootFS: ocispec.RootFS{Type: "layers"}}))(t)
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    r.PushBlob(t, repo, ocispec.MediaTypeImageConfig, config),
		Layers:    []ocispec.Descriptor{r.PushBlob(t, repo, ocispec.MediaTypeImageLayer, []byte("layer of "+repo+" for "+p.OS+"/"+p.Architecture))},
	}
	desc := r.PushManifest(t, repo, "", m.MediaType, must(json.Marshal(m))(t))
	desc.Platform = &p
	return desc
}

// platformResult is the JSON `ratify verify` prints for an index: the
// result with the verifications of the platform manifests.
type platformResult struct {
	IsSuccess       bool             `json:"isSuccess"`
	VerifierReports []report         `json:"verifierReports"`
	Platforms       []platformReport `json:"platforms"`
}

// platformReport is one platform manifest's verification.
type platformReport struct {
	Platform        string   `json:"platform"`
	Subject         string   `json:"subject"`
	IsSuccess       bool     `json:"isSuccess"`
	VerifierReports []report `json:"verifierReports"`
}

// multiPlatformConfig writes a config.json that trusts root's Notary
// Project signatures, with policy.plugin.multiPlatform set to modes.
func multiPlatformConfig(t *testing.T, root *x509.Certificate, modes map[string]string) string {
	t.Helper()
	path := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root}})
	var cfg map[string]any
	if err := json.Unmarshal(must(os.ReadFile(path))(t), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["policy"].(map[string]any)["plugin"].(map[string]any)["multiPlatform"] = modes
	if err := os.WriteFile(path, must(json.Marshal(cfg))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// nothingAttached is what ratify verify says of a failing subject with no
// reports and no platforms, under multiPlatformConfig's policy.
const nothingAttached = ": no artifact that a configured verifier checks is attached; the policy requires application/vnd.cncf.notary.signature"

// verifyPlatforms runs `ratify verify -s ref -c config`, asserts the exit
// code (and the one line a failure writes to standard error) and decodes
// the result; why is the reason expected after "failed verification".
func verifyPlatforms(t *testing.T, ref, config string, exit int, why string) platformResult {
	t.Helper()
	o := ratify(t, "verify", "-s", ref, "-c", config)
	wantExit(t, o, exit)
	var res platformResult
	if err := json.Unmarshal([]byte(o.stdout), &res); err != nil {
		t.Fatalf("stdout is not a result: %v: %s", err, o)
	}
	if res.IsSuccess != (exit == exitPassed) {
		t.Errorf("isSuccess %v with exit code %d: %s", res.IsSuccess, exit, o)
	}
	wantStderr := ""
	if exit == exitFailed {
		wantStderr = "ratify: " + ref + " failed verification" + why + "\n"
	}
	if o.stderr != wantStderr {
		t.Errorf("stderr %q, want %q", o.stderr, wantStderr)
	}
	return res
}

// platformWant is the expected verdict on an image under one mode: the
// exit code, whether the index's own signature is reported, and, when the
// mode looks at the platforms, each platform's verdict.
type platformWant struct {
	exit        int
	indexReport bool
	// amd64 and arm64 are the platform verdicts; platforms false means
	// the result lists no platforms.
	platforms    bool
	amd64, arm64 bool
}

// why is the reason ratify verify gives on standard error after "failed
// verification" for an image verified as w says: the platforms that
// failed, or that nothing is attached to the index.
func (w platformWant) why() string {
	if w.exit != exitFailed {
		return ""
	}
	if !w.platforms {
		return nothingAttached
	}
	var failing []string
	for _, p := range []struct {
		name string
		pass bool
	}{{"linux/amd64", w.amd64}, {"linux/arm64/v8", w.arm64}} {
		if !p.pass {
			failing = append(failing, p.name)
		}
	}
	return ": platform " + strings.Join(failing, ", ") + " failed"
}

// wantPlatforms checks res, the result for img, against want.
func wantPlatforms(t *testing.T, res platformResult, img platformImage, want platformWant) {
	t.Helper()
	if want.indexReport {
		if len(res.VerifierReports) != 1 || !res.VerifierReports[0].IsSuccess ||
			res.VerifierReports[0].Subject != img.digestRef || res.VerifierReports[0].VerifierName != "notation" {
			t.Errorf("index reports %+v, want one passing notation report on %s", res.VerifierReports, img.digestRef)
		}
	} else if len(res.VerifierReports) != 0 {
		t.Errorf("index reports %+v, want none (the index is not signed, or not looked at)", res.VerifierReports)
	}
	if !want.platforms {
		if len(res.Platforms) != 0 {
			t.Errorf("platforms %+v, want none listed", res.Platforms)
		}
		return
	}
	wantList := []struct {
		name, subject string
		pass          bool
	}{
		{"linux/amd64", img.amd64Ref, want.amd64},
		{"linux/arm64/v8", img.arm64Ref, want.arm64},
	}
	if len(res.Platforms) != len(wantList) {
		t.Fatalf("%d platforms %+v, want linux/amd64 and linux/arm64/v8 (the attestation manifest is no platform)", len(res.Platforms), res.Platforms)
	}
	for i, w := range wantList {
		p := res.Platforms[i]
		if p.Platform != w.name || p.Subject != w.subject || p.IsSuccess != w.pass {
			t.Errorf("platforms[%d] = {%s %s %v}, want {%s %s %v}", i, p.Platform, p.Subject, p.IsSuccess, w.name, w.subject, w.pass)
		}
		if w.pass && (len(p.VerifierReports) != 1 || !p.VerifierReports[0].IsSuccess || p.VerifierReports[0].Subject != w.subject) {
			t.Errorf("%s: reports %+v, want one passing report on %s", w.name, p.VerifierReports, w.subject)
		}
		if !w.pass && len(p.VerifierReports) != 0 {
			t.Errorf("%s: reports %+v on an unsigned platform manifest", w.name, p.VerifierReports)
		}
	}
}

// platformFixture is three multi-platform images in one registry, signed
// by one signer with the notation CLI: one with only its linux/amd64
// manifest signed, one with only its index signed, one with both platform
// manifests signed.
type platformFixture struct {
	root                                      *x509.Certificate
	amd64Signed, indexSigned, platformsSigned platformImage
}

// newPlatformFixture pushes the fixture's images to r and signs them as
// is usual on a registry of kind k.
func newPlatformFixture(t *testing.T, r *testregistry.Registry, k registryKind) platformFixture {
	t.Helper()
	root, signer := newSigner(t)
	n := newNotation(t)
	n.AddKey("e2e", signer)
	f := platformFixture{
		root:            root.Cert,
		amd64Signed:     pushPlatformImage(t, r, "multi/amd64-signed"),
		indexSigned:     pushPlatformImage(t, r, "multi/index-signed"),
		platformsSigned: pushPlatformImage(t, r, "multi/platforms-signed"),
	}
	for _, ref := range []string{f.amd64Signed.amd64Ref, f.indexSigned.digestRef, f.platformsSigned.amd64Ref, f.platformsSigned.arm64Ref} {
		n.Sign("e2e", ref, storeFlags(k)...)
	}
	return f
}

// TestVerifyMultiPlatform verifies real multi-platform images, signed with
// the notation CLI on one platform, on the index, or on every platform,
// by tag and by digest, under each policy.plugin.multiPlatform mode: the
// exit code and the platforms[] of the result are those the mode defines
// (platforms.go): "index" looks only at the index's signatures, as Ratify
// v1; "platforms" requires every platform manifest's own; "either" takes
// the index's and else every platform's.
func TestVerifyMultiPlatform(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		f := newPlatformFixture(t, r, k)
		for _, tc := range []struct {
			name string
			img  platformImage
			mode string
			want platformWant
		}{
			{"amd64 signed/index", f.amd64Signed, "index", platformWant{exit: exitFailed}},
			{"amd64 signed/platforms", f.amd64Signed, "platforms", platformWant{exit: exitFailed, platforms: true, amd64: true}},
			{"amd64 signed/either", f.amd64Signed, "either", platformWant{exit: exitFailed, platforms: true, amd64: true}},
			{"index signed/index", f.indexSigned, "index", platformWant{exit: exitPassed, indexReport: true}},
			{"index signed/platforms", f.indexSigned, "platforms", platformWant{exit: exitFailed, platforms: true}},
			{"index signed/either", f.indexSigned, "either", platformWant{exit: exitPassed, indexReport: true}},
			{"platforms signed/index", f.platformsSigned, "index", platformWant{exit: exitFailed}},
			{"platforms signed/platforms", f.platformsSigned, "platforms", platformWant{exit: exitPassed, platforms: true, amd64: true, arm64: true}},
			{"platforms signed/either", f.platformsSigned, "either", platformWant{exit: exitPassed, platforms: true, amd64: true, arm64: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				config := multiPlatformConfig(t, f.root, map[string]string{"default": tc.mode})
				for _, ref := range []string{tc.img.tagRef, tc.img.digestRef} {
					wantPlatforms(t, verifyPlatforms(t, ref, config, tc.want.exit, tc.want.why()), tc.img, tc.want)
				}
			})
		}

		// A platform manifest verified on its own is an image like any
		// other, whatever the mode.
		t.Run("platform manifest", func(t *testing.T) {
			config := multiPlatformConfig(t, f.root, map[string]string{"default": "platforms"})
			res := verifyPlatforms(t, f.amd64Signed.amd64Ref, config, exitPassed, "")
			if len(res.Platforms) != 0 || len(res.VerifierReports) != 1 || res.VerifierReports[0].Subject != f.amd64Signed.amd64Ref {
				t.Errorf("result %+v, want the platform manifest's own report and no platforms", res)
			}
			verifyPlatforms(t, f.amd64Signed.arm64Ref, config, exitFailed, nothingAttached)
		})
	})
}

// TestVerifyMultiPlatformScoped checks that multiPlatform modes apply by
// repository scope ("registry/repository", "registry/path/*"), the most
// specific first, with "default" for the rest; tags and digests play no
// part in the match.
func TestVerifyMultiPlatformScoped(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		f := newPlatformFixture(t, r, k)
		host := r.Host()
		indexDefault := multiPlatformConfig(t, f.root, map[string]string{
			"default": "index", host + "/multi/platforms-signed": "platforms"})
		wildcard := multiPlatformConfig(t, f.root, map[string]string{
			"default": "index", host + "/multi/*": "platforms", host + "/multi/index-signed": "either"})
		otherRegistry := multiPlatformConfig(t, f.root, map[string]string{
			"default": "index", "127.0.0.2:5000/multi/*": "platforms"})
		for _, tc := range []struct {
			name   string
			config string
			img    platformImage
			want   platformWant
		}{
			// Under "index", the image signed on both platforms would fail.
			{"exact scope/in scope", indexDefault, f.platformsSigned, platformWant{exit: exitPassed, platforms: true, amd64: true, arm64: true}},
			{"exact scope/default", indexDefault, f.indexSigned, platformWant{exit: exitPassed, indexReport: true}},
			{"exact scope/default fails", indexDefault, f.amd64Signed, platformWant{exit: exitFailed}},
			{"wildcard scope", wildcard, f.amd64Signed, platformWant{exit: exitFailed, platforms: true, amd64: true}},
			{"wildcard scope passes", wildcard, f.platformsSigned, platformWant{exit: exitPassed, platforms: true, amd64: true, arm64: true}},
			// Under the wildcard's "platforms", the index-signed image
			// would fail; its own entry wins.
			{"exact beats wildcard", wildcard, f.indexSigned, platformWant{exit: exitPassed, indexReport: true}},
			{"other registry's scope", otherRegistry, f.platformsSigned, platformWant{exit: exitFailed}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, ref := range []string{tc.img.tagRef, tc.img.digestRef} {
					wantPlatforms(t, verifyPlatforms(t, ref, tc.config, tc.want.exit, tc.want.why()), tc.img, tc.want)
				}
			})
		}
	})
}

// TestVerifyMultiPlatformRegistryFailure checks that a platform manifest
// whose referrers cannot be listed makes the index "could not verify"
// (exit 2), never "unsigned".
func TestVerifyMultiPlatformRegistryFailure(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	f := newPlatformFixture(t, r, registryKind{referrers: true})
	config := multiPlatformConfig(t, f.root, map[string]string{"default": "platforms"})
	r.Inject(testregistry.Fault{Kind: testregistry.KindReferrers, Status: 503})
	o := ratify(t, "verify", "-s", f.platformsSigned.digestRef, "-c", config)
	wantExit(t, o, exitCouldNotVerify)
	if o.stdout != "" || !strings.HasPrefix(o.stderr, "ratify: ") || !strings.Contains(o.stderr, "503") {
		t.Errorf("want no result and the registry's 503 on stderr: %s", o)
	}
	// Both platform manifests fail to list their referrers at once.
	t.Run("one-line reason", func(t *testing.T) {
		wantCouldNotVerify(t, o, "503")
	})
}
