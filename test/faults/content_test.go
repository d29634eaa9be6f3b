package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

const mib = 1 << 20

// onGet is registry middleware answering GET requests whose path ends in
// suffix with h instead of the registry.
func onGet(suffix string, h http.HandlerFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, suffix) {
				h(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// swapHandler lets a test choose its registry middleware after the
// registry has started (and its content has been pushed).
type swapHandler struct {
	h atomic.Pointer[func(http.Handler) http.Handler]
}

func (s *swapHandler) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := s.h.Load(); m != nil {
			(*m)(next).ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *swapHandler) set(m func(http.Handler) http.Handler) { s.h.Store(&m) }

// flood writes prefix, then unit over and over, up to total bytes in
// chunks of about 64 KiB, counting what the connection accepted in sent;
// it stops at the first write error (the client hung up).
func flood(w http.ResponseWriter, prefix, unit string, total int64, sent *atomic.Int64) {
	n, err := w.Write([]byte(prefix))
	sent.Add(int64(n))
	if err != nil {
		return
	}
	chunk := bytes.Repeat([]byte(unit), max(1, (64<<10)/len(unit)))
	for sent.Load() < total {
		n, err := w.Write(chunk)
		sent.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// TestTruncatedAndForgedContent: a registry that breaks a body off
// mid-way, sends JSON that ends early, or serves a manifest or blob other
// than the one its digest names. Each is "could not verify" with the
// sentinel that says which: ErrRegistryUnavailable for a connection that
// broke, ErrInvalidContent for content that is not what was asked for.
// None is ever a pass, and none is reported as "unsigned".
func TestTruncatedAndForgedContent(t *testing.T) {
	forged := func(b []byte) []byte { // as long as b, but not b
		out := bytes.Clone(b)
		out[len(out)/2] ^= 1
		return out
	}
	for _, tc := range []struct {
		name  string
		mw    func(f *fixture) func(http.Handler) http.Handler
		fault func(f *fixture) testregistry.Fault
		want  error
	}{
		{name: "envelope cut off mid-body", mw: func(f *fixture) func(http.Handler) http.Handler {
			env := envelopeOf(f.signature)
			return onGet("/blobs/"+env.Digest.String(), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.FormatInt(env.Size, 10))
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(f.signature.Envelope[:env.Size/2])
				panic(http.ErrAbortHandler) // the connection breaks
			})
		}, want: errdef.ErrRegistryUnavailable},
		{name: "referrers listing that ends early", fault: func(*fixture) testregistry.Fault {
			return testregistry.Fault{Kind: testregistry.KindReferrers, Header: http.Header{"Content-Type": {ocispec.MediaTypeImageIndex}},
				Body: []byte(`{"schemaVersion":2,"manifests":[{"mediaType":`)}
		}, want: errdef.ErrInvalidContent},
		{name: "signature manifest that is not its digest's", fault: func(f *fixture) testregistry.Fault {
			return testregistry.Fault{Method: http.MethodGet, Kind: testregistry.KindManifest, Reference: f.signature.ManifestDescriptor.Digest.String(),
				Header: http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}, Body: forged(f.signature.Manifest)}
		}, want: errdef.ErrInvalidContent},
		{name: "envelope that is not its digest's", fault: func(f *fixture) testregistry.Fault {
			return testregistry.Fault{Method: http.MethodGet, Kind: testregistry.KindBlob, Reference: envelopeOf(f.signature).Digest.String(),
				Body: forged(f.signature.Envelope)}
		}, want: errdef.ErrInvalidContent},
		{name: "envelope longer than its descriptor", fault: func(f *fixture) testregistry.Fault {
			return testregistry.Fault{Method: http.MethodGet, Kind: testregistry.KindBlob, Reference: envelopeOf(f.signature).Digest.String(),
				Body: append(bytes.Clone(f.signature.Envelope), "trailing"...)}
		}, want: errdef.ErrInvalidContent},
		{name: "referrers listing that is not JSON", fault: func(*fixture) testregistry.Fault {
			return testregistry.Fault{Kind: testregistry.KindReferrers, Header: http.Header{"Content-Type": {ocispec.MediaTypeImageIndex}},
				Body: []byte("<html>maintenance</html>")}
		}, want: errdef.ErrInvalidContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sw := &swapHandler{}
			f := newFixture(t, testregistry.Options{Referrers: true, Handler: sw.wrap})
			path := writeConfig(t, f.dir, baseConfig())
			if tc.mw != nil {
				sw.set(tc.mw(f))
			}
			if tc.fault != nil {
				f.reg.Inject(tc.fault(f))
			}
			_, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
			wantErr(t, "executor", err, tc.want)

			p := startProvider(t, server.Options{ConfigPath: path})
			wantItemErrors(t, p.post(t, "verify", f.ref("app/signed", f.signed)), tc.want)
		})
	}
}

// TestOversizedContent: a registry offering 100 MiB where ratify bounds
// what it reads (manifests and listings 4 MiB, blobs 32 MiB; a Notary
// Project envelope 32 MiB). An envelope its manifest says is 100 MiB is
// refused before any request for it; bodies longer than announced, or
// announced too long, are cut off at the bound, so that the bytes the
// registry manages to send stay far below 100 MiB.
func TestOversizedContent(t *testing.T) {
	t.Run("envelope declared 100 MiB", func(t *testing.T) {
		noLeaks(t)
		f := newFixture(t, testregistry.Options{Referrers: true})
		path := writeConfig(t, f.dir, baseConfig())
		big := f.reg.PushImage(t, "app/big", "v1")
		sig := f.sign(t, "app/big", big, f.ca, testpki.CertOptions{})
		var m ocispec.Manifest
		if err := json.Unmarshal(sig.Manifest, &m); err != nil {
			t.Fatal(err)
		}
		m.Layers[0].Size = 100 * mib
		raw, _ := json.Marshal(m)
		f.reg.PushManifest(t, "app/big", "", ocispec.MediaTypeImageManifest, raw)
		// Only the forged signature may count: drop the real one from the listing.
		f.reg.Inject(testregistry.Fault{Method: http.MethodGet, Kind: testregistry.KindReferrers, Reference: big.Digest.String(),
			Header: http.Header{"Content-Type": {ocispec.MediaTypeImageIndex}},
			Body:   indexOf(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sigType, Digest: digestOf(raw), Size: int64(len(raw))})})
		f.reg.Reset()
		res, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/big", big))
		if err != nil || res.IsSuccess {
			t.Fatalf("result %+v, %v: want a failed verification", res, err)
		}
		p := startProvider(t, server.Options{ConfigPath: path})
		if r := p.post(t, "verify", f.ref("app/big", big)).Items[0].result(t); r.IsSuccess {
			t.Fatalf("provider passed a signature of 100 MiB: %+v", r)
		}
		if n := f.reg.Count(http.MethodGet, testregistry.KindBlob); n != 0 {
			t.Errorf("%d blob requests: the 100 MiB envelope was asked for", n)
		}
	})

	for _, tc := range []struct {
		name   string
		suffix func(f *fixture) string
		length bool // announce the 100 MiB in Content-Length
		json   bool // send a JSON index that goes on and on, rather than 'x's
		want   error
		bound  func(f *fixture) int64 // what ratify may read
	}{
		{"envelope streamed to 100 MiB", func(f *fixture) string { return "/blobs/" + envelopeOf(f.signature).Digest.String() }, false, false,
			errdef.ErrInvalidContent, func(f *fixture) int64 { return envelopeOf(f.signature).Size + 1 }},
		{"signature manifest announced as 100 MiB", func(f *fixture) string { return "/manifests/" + f.signature.ManifestDescriptor.Digest.String() }, true, false,
			errdef.ErrSizeExceedsLimit, func(*fixture) int64 { return 0 }},
		{"referrers listing streamed to 100 MiB", func(f *fixture) string { return "/referrers/" + f.signed.Digest.String() }, false, true,
			errdef.ErrSizeExceedsLimit, func(*fixture) int64 { return 4*mib + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sw := &swapHandler{}
			f := newFixture(t, testregistry.Options{Referrers: true, Handler: sw.wrap})
			path := writeConfig(t, f.dir, baseConfig())
			var sent atomic.Int64
			sw.set(onGet(tc.suffix(f), func(w http.ResponseWriter, r *http.Request) {
				if tc.length {
					w.Header().Set("Content-Length", strconv.Itoa(100*mib))
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.WriteHeader(http.StatusOK)
				if tc.json {
					unit := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + sigType + `","digest":"` +
						f.signed.Digest.String() + `","size":1},`
					flood(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`, unit, 100*mib, &sent)
					return
				}
				flood(w, "", "x", 100*mib, &sent)
			}))
			bound := tc.bound(f)
			_, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
			wantErr(t, "executor", err, tc.want)
			// What the connection took is what ratify read plus what the
			// kernel's socket buffers held when it hung up.
			if n := sent.Load(); n >= 100*mib || n > bound+16*mib {
				t.Errorf("the registry sent %d bytes; ratify reads at most %d", n, bound)
			}
			t.Logf("executor: the registry sent %.1f MiB before ratify hung up", float64(sent.Load())/mib)

			sent.Store(0)
			p := startProvider(t, server.Options{ConfigPath: path})
			wantItemErrors(t, p.post(t, "verify", f.ref("app/signed", f.signed)), tc.want)
			if n := sent.Load(); n >= 100*mib || n > bound+16*mib {
				t.Errorf("provider: the registry sent %d bytes; ratify reads at most %d", n, bound)
			}
		})
	}
}

// indexOf returns an OCI image index listing descs, as a referrers answer.
func indexOf(descs ...ocispec.Descriptor) []byte {
	b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: descs})
	return b
}

// TestManyReferrers: a subject with 10,000 referrers in one listing, one
// whose pages of 100 link on forever, and one whose empty pages link on
// forever. ratify stops at its bound (1024 referrers): ErrSizeExceedsLimit,
// after a bounded number of requests, never "unsigned".
func TestManyReferrers(t *testing.T) {
	fake := func(i int) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sigType,
			Digest: digestOf([]byte(fmt.Sprint("referrer ", i))), Size: 500}
	}
	tenThousand := make([]ocispec.Descriptor, 10_000)
	for i := range tenThousand {
		tenThousand[i] = fake(i)
	}
	const maxPages = 2000 // a registry that links on past this is stopped by the test
	paged := func(perPage int) http.HandlerFunc {
		var page atomic.Int64
		return func(w http.ResponseWriter, r *http.Request) {
			n := int(page.Add(1))
			descs := make([]ocispec.Descriptor, perPage)
			for i := range descs {
				descs[i] = fake(n*perPage + i)
			}
			if n < maxPages {
				w.Header().Set("Link", fmt.Sprintf(`<%s?last=%d>; rel="next"`, r.URL.Path, n))
			}
			w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
			_, _ = w.Write(indexOf(descs...))
		}
	}
	for _, tc := range []struct {
		name    string
		serve   func() http.HandlerFunc
		maxReqs int
	}{
		{"10,000 in one listing", func() http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				_, _ = w.Write(indexOf(tenThousand...))
			}
		}, 1},
		{"pages of 100, linking on forever", func() http.HandlerFunc { return paged(100) }, 11},
		// 64 pages are followed; the 65th is where ratify stops.
		{"empty pages, linking on forever", func() http.HandlerFunc { return paged(0) }, 65},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sw := &swapHandler{}
			f := newFixture(t, testregistry.Options{Referrers: true, Handler: sw.wrap})
			path := writeConfig(t, f.dir, baseConfig())
			sw.set(onGet("/referrers/"+f.signed.Digest.String(), tc.serve()))
			f.reg.Reset()
			_, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
			n := f.reg.Count(http.MethodGet, testregistry.KindReferrers)
			wantErr(t, "executor", err, errdef.ErrSizeExceedsLimit)
			if n > tc.maxReqs {
				t.Errorf("%d referrers requests, want at most %d", n, tc.maxReqs)
			}
			sw.set(onGet("/referrers/"+f.signed.Digest.String(), tc.serve()))
			p := startProvider(t, server.Options{ConfigPath: path})
			wantItemErrors(t, p.post(t, "verify", f.ref("app/signed", f.signed)), errdef.ErrSizeExceedsLimit)
		})
	}
}

// TestReferrerLoops: a registry whose listings make a loop: A refers to B
// refers to A, or A refers to itself, through verifiers that ask for the
// referrers of what they verified (an SBOM's own SBOMs). Verification
// ends at the nesting bound (3 levels) with ErrSizeExceedsLimit, after a
// bounded number of requests.
func TestReferrerLoops(t *testing.T) {
	cfg := baseConfig()
	cfg["verifier"] = map[string]any{"plugins": []any{map[string]any{
		"name": "sbom", "artifactTypes": spdxType, "nestedReferences": spdxType,
	}}}
	cfg["policy"] = map[string]any{"plugin": map[string]any{"name": "configPolicy", "artifactVerificationPolicies": map[string]any{spdxType: "any"}}}
	for _, tc := range []struct {
		name string
		loop func(a, b ocispec.Descriptor) (lieOf, lists ocispec.Descriptor) // whose listing lies, and what it lists
	}{
		{"no loop: the chain image <- A <- B ends in a verdict", nil},
		{"A refers to B refers to A", func(a, b ocispec.Descriptor) (ocispec.Descriptor, ocispec.Descriptor) { return b, a }},
		{"A refers to itself", func(a, _ ocispec.Descriptor) (ocispec.Descriptor, ocispec.Descriptor) { return a, a }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			f := newFixture(t, testregistry.Options{Referrers: true})
			path := writeConfig(t, f.dir, cfg)
			img := f.reg.PushImage(t, "app/sbom", "v1")
			a, _ := f.reg.PushArtifact(t, "app/sbom", testregistry.Artifact{ArtifactType: spdxType, Subject: &img, LayerMediaType: spdxType, Layer: []byte(spdxDoc)})
			b, _ := f.reg.PushArtifact(t, "app/sbom", testregistry.Artifact{ArtifactType: spdxType, Subject: &a, LayerMediaType: spdxType, Layer: []byte(spdxDoc + " ")})
			if tc.loop == nil {
				// B has no SBOM of its own, so the chain fails, with a
				// verdict: what makes the loops errors is the loop.
				if res, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/sbom", img)); err != nil || res.IsSuccess {
					t.Fatalf("the honest chain: %+v, %v; want a failed verdict", res, err)
				}
				return
			}
			lieOf, lists := tc.loop(a, b)
			f.reg.Inject(testregistry.Fault{Method: http.MethodGet, Kind: testregistry.KindReferrers, Reference: lieOf.Digest.String(),
				Header: http.Header{"Content-Type": {ocispec.MediaTypeImageIndex}}, Body: indexOf(lists)})
			f.reg.Reset()
			_, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/sbom", img))
			wantErr(t, "executor", err, errdef.ErrSizeExceedsLimit)
			if n := f.reg.Total(); n > 20 {
				t.Errorf("%d registry requests for a loop of two artifacts", n)
			}
			p := startProvider(t, server.Options{ConfigPath: path})
			wantItemErrors(t, p.post(t, "verify", f.ref("app/sbom", img)), errdef.ErrSizeExceedsLimit)
		})
	}
}

const spdxType = "application/spdx+json"

// spdxDoc is a minimal SPDX 2.3 document.
const spdxDoc = `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app",` +
	`"creationInfo":{"created":"2024-03-01T12:00:00Z","creators":["Tool: test"]},` +
	`"packages":[{"name":"musl","SPDXID":"SPDXRef-musl","versionInfo":"1.2.4","licenseConcluded":"MIT"}]}`
