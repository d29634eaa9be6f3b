package registry

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
)

const mib = 1 << 20

// bigManifest returns a valid image manifest of about size bytes (padded
// with an annotation).
func bigManifest(size int) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[],"annotations":{"pad":"` + strings.Repeat("p", size) + `"}}`)
}

func TestFetchLimits(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	image := r.PushImage(t, "app", "v1")
	blob := r.PushBlob(t, "app", "application/octet-stream", bytes.Repeat([]byte("b"), 4096))
	huge := bigManifest(10 * mib)
	r.PushManifest(t, "app", "huge", ocispec.MediaTypeImageManifest, huge)
	ref := r.Reference("app", "")
	// A 10 MiB manifest resolves (HEAD has no body), but is never fetched.
	hugeDesc, err := newStore(t, Options{}).Resolve(context.Background(), r.Reference("app", "huge"))
	if err != nil || hugeDesc.Size != int64(len(huge)) {
		t.Fatalf("Resolve(huge) = %+v, %v", hugeDesc, err)
	}

	for _, tc := range []struct {
		name     string
		opts     Options
		desc     ocispec.Descriptor
		fault    *testregistry.Fault
		want     error
		wantText string
		wantReqs int // requests the registry saw
	}{
		{name: "manifest", desc: image, wantReqs: 1},
		{name: "blob", desc: blob, wantReqs: 1},
		{name: "10 MiB manifest descriptor", desc: hugeDesc, want: errdef.ErrSizeExceedsLimit, wantText: strconv.Itoa(len(huge)) + " bytes, over the limit of 4194304"},
		{name: "manifest just over 4 MiB", desc: withSize(image, 4*mib+1), want: errdef.ErrSizeExceedsLimit, wantText: "4194305 bytes"},
		{name: "blob over the limit", opts: Options{MaxBlobBytes: 1024}, desc: blob, want: errdef.ErrSizeExceedsLimit, wantText: "4096 bytes, over the limit of 1024"},
		{name: "10 MiB manifest sent for a small descriptor", desc: image,
			fault: &testregistry.Fault{Kind: testregistry.KindManifest, Header: contentType(ocispec.MediaTypeImageManifest), Body: huge},
			want:  errdef.ErrSizeExceedsLimit, wantReqs: 1},
		{name: "blob larger than its descriptor", desc: blob,
			fault: &testregistry.Fault{Kind: testregistry.KindBlob, Body: bytes.Repeat([]byte("b"), 5000)},
			want:  errdef.ErrInvalidContent, wantReqs: 1},
		{name: "blob shorter than its descriptor", desc: blob,
			fault: &testregistry.Fault{Kind: testregistry.KindBlob, Body: []byte("b")},
			want:  errdef.ErrInvalidContent, wantReqs: 1},
		{name: "blob with another digest", desc: blob,
			fault: &testregistry.Fault{Kind: testregistry.KindBlob, Body: bytes.Repeat([]byte("c"), 4096)},
			want:  errdef.ErrInvalidContent, wantText: "content has digest", wantReqs: 1},
		{name: "manifest with a lying Docker-Content-Digest", desc: image,
			fault: &testregistry.Fault{Kind: testregistry.KindManifest, Header: http.Header{
				"Content-Type":          {ocispec.MediaTypeImageManifest},
				"Docker-Content-Digest": {digest.FromString("other").String()},
			}, Body: make([]byte, image.Size)},
			want: errdef.ErrInvalidContent, wantReqs: 1},
		{name: "unknown blob", desc: withDigest(blob, digest.FromString("missing")), want: errdef.ErrNotFound, wantReqs: 1},
		{name: "bad digest", desc: withDigest(blob, "sha256:nothex"), want: errdef.ErrInvalidContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.ClearFaults()
			if tc.fault != nil {
				r.Inject(*tc.fault)
			}
			s := newStore(t, tc.opts)
			r.Reset()
			data, err := s.Fetch(context.Background(), ref, tc.desc)
			wantErr(t, err, tc.want)
			if tc.want == nil && int64(len(data)) != tc.desc.Size {
				t.Errorf("Fetch returned %d bytes, want %d", len(data), tc.desc.Size)
			}
			if tc.want != nil && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if tc.want != nil && !strings.Contains(err.Error(), tc.desc.Digest.String()) {
				t.Errorf("error %q does not name the digest", err)
			}
			if n := r.Total(); n != tc.wantReqs {
				t.Errorf("%d requests, want %d (%v)", n, tc.wantReqs, r.Counts())
			}
		})
	}
}

// TestReferrersMalformed: a referrers listing that is garbage or too large
// is an error, through the API and through the tag schema.
func TestReferrersMalformed(t *testing.T) {
	garbage := []byte(`{"schemaVersion":2,"manifests":[{"digest":`)
	huge := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"pad":"` +
		strings.Repeat("p", 10*mib) + `"}}`)
	index := contentType(ocispec.MediaTypeImageIndex)
	for _, b := range backends {
		kind := testregistry.KindReferrers
		if !b.referrers {
			kind = testregistry.KindManifest
		}
		for _, tc := range []struct {
			name string
			body []byte
			want error
		}{
			{"garbage JSON", garbage, errdef.ErrInvalidContent},
			{"10 MiB index", huge, errdef.ErrSizeExceedsLimit},
		} {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				r := testregistry.New(t, testregistry.Options{Referrers: b.referrers})
				subject, _ := signed(t, r, "app", 1)
				s := newStore(t, Options{})
				ref := r.Reference("app", "")
				if !b.referrers {
					if _, err := s.Referrers(context.Background(), ref, subject); err != nil {
						t.Fatal(err)
					}
				}
				r.Inject(testregistry.Fault{Method: http.MethodGet, Kind: kind, Header: index, Body: tc.body})
				_, err := s.Referrers(context.Background(), ref, subject)
				wantErr(t, err, tc.want)
			})
		}
	}

	// A registry that streams an oversized listing without Content-Length.
	t.Run("10 MiB streamed", func(t *testing.T) {
		r := testregistry.New(t, testregistry.Options{Referrers: true, Handler: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if k := req.URL.Path; !strings.Contains(k, "/referrers/") {
					next.ServeHTTP(w, req)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				_, _ = w.Write(huge)
			})
		}})
		subject, _ := signed(t, r, "app", 1)
		_, err := newStore(t, Options{}).Referrers(context.Background(), r.Reference("app", ""), subject)
		wantErr(t, err, errdef.ErrSizeExceedsLimit)
	})
}

func withSize(d ocispec.Descriptor, size int64) ocispec.Descriptor {
	d.Size = size
	return d
}

func withDigest(d ocispec.Descriptor, dg digest.Digest) ocispec.Descriptor {
	d.Digest = dg
	return d
}

func contentType(mediaType string) http.Header {
	return http.Header{"Content-Type": {mediaType}}
}
