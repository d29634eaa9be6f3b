package faults

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testregistry"
)

// manifestBytes reads a manifest from the test registry as pushed.
func manifestBytes(t *testing.T, f *fixture, repo, ref string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+f.reg.Host()+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s: %d", ref, resp.StatusCode)
	}
	return b
}

// verifiedSubject returns the digest a verify answer's reports name.
func verifiedSubject(t *testing.T, it item) string {
	t.Helper()
	r := it.result(t)
	if len(r.VerifierReports) == 0 {
		return ""
	}
	_, d, _ := strings.Cut(r.VerifierReports[0].Subject, "@")
	return d
}

// TestDigestPinning: mutation and verification of a tag name the same
// digest, and a tag that moves between them cannot smuggle another
// image in. app/signed:v1 is signed; then the tag is moved to an unsigned
// manifest. With the tag cache (TagTTL), mutate and verify keep answering
// the digest they resolved until it expires, together; without it, both
// follow the tag at once, together, and the unsigned image fails. Either
// way, the image pinned by the first mutation still verifies by digest:
// what was verified is what the pod runs.
func TestDigestPinning(t *testing.T) {
	for _, tagTTL := range []time.Duration{generous, -1} {
		name := map[bool]string{true: "tag cache on", false: "tag cache off"}[tagTTL > 0]
		t.Run(name, func(t *testing.T) {
			noLeaks(t)
			f := newFixture(t, testregistry.Options{Referrers: true})
			p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, baseConfig()), TagTTL: tagTTL, CacheTTL: -1, NegativeCacheTTL: -1})
			tag := f.reg.Host() + "/app/signed:v1"
			pinned := p.post(t, "mutate", tag).Items[0]
			want := f.reg.Host() + "/app/signed@" + f.signed.Digest.String()
			if string(pinned.Value) != `"`+want+`"` {
				t.Fatalf("mutate %s = %s %q, want %s", tag, pinned.Value, pinned.Error, want)
			}
			v := p.post(t, "verify", tag).Items[0]
			if got := verifiedSubject(t, v); got != f.signed.Digest.String() || !v.result(t).IsSuccess {
				t.Fatalf("verify %s: subject %s (pass %v), want the digest mutate answered", tag, got, v.result(t).IsSuccess)
			}

			// The tag moves to an unsigned manifest.
			moved := f.reg.PushImage(t, "app/signed", "moved")
			f.reg.PushManifest(t, "app/signed", "v1", ocispec.MediaTypeImageManifest, manifestBytes(t, f, "app/signed", "moved"))
			m := p.post(t, "mutate", tag).Items[0]
			v = p.post(t, "verify", tag).Items[0]
			mutated := strings.Trim(string(m.Value), `"`)
			_, mutatedDigest, _ := strings.Cut(mutated, "@")
			switch {
			case tagTTL > 0 && mutatedDigest != f.signed.Digest.String():
				t.Errorf("with the tag cache, mutate followed the moved tag at once: %s", mutated)
			case tagTTL < 0 && mutatedDigest != moved.Digest.String():
				t.Errorf("without the tag cache, mutate answered %s, not the moved tag's %s", mutated, moved.Digest)
			}
			if got := v.result(t); got.IsSuccess != (mutatedDigest == f.signed.Digest.String()) {
				t.Errorf("verify of the moved tag: pass %v, while mutate pins %s", got.IsSuccess, mutated)
			}
			if got := verifiedSubject(t, v); got != "" && got != mutatedDigest {
				t.Errorf("verify checked %s, mutate pins %s", got, mutatedDigest)
			}
			// The pod mutated first runs the signed manifest, and that digest still verifies.
			if r := p.post(t, "verify", want).Items[0].result(t); !r.IsSuccess {
				t.Errorf("the pinned digest %s no longer verifies after the tag moved: %+v", want, r)
			}
		})
	}
}
