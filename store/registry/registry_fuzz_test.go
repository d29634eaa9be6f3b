package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify/errdef"
	regstore "github.com/openratify/ratify/store/registry"
)

// fuzzHost is the registry the fuzzed answers come from; nothing is dialled:
// the store's transport answers in memory.
const fuzzHost = "registry.fuzz.invalid"

// fuzzRegistry answers the store's requests with fuzzed content: the
// referrers listing (or, without the referrers API, the referrers tag
// schema's index), and one manifest for every manifest request. It stops
// answering after maxRequests, so that a listing whose pages link to each
// other forever ends the iteration.
type fuzzRegistry struct {
	referrers, manifest []byte
	mode                uint8
	requests            atomic.Int32
}

const (
	modeNoReferrersAPI = 1 << iota // 404 on the referrers API: fall back to the tag schema
	modeCosign                     // CosignEnabled, and the cosign tag exists
	modeJSONType                   // listings typed application/json instead of the index media type
	modeLinkSelf                   // every listing links to a next page (itself)
	modeWrongDigest                // Docker-Content-Digest is not the content's digest
	modeNoLength                   // no Content-Length (chunked)
)

const maxRequests = 64

func (f *fuzzRegistry) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.requests.Add(1) > maxRequests {
		return nil, fmt.Errorf("fuzz registry: more than %d requests", maxRequests)
	}
	path := req.URL.Path
	switch {
	case strings.Contains(path, "/referrers/"):
		if f.mode&modeNoReferrersAPI != 0 {
			return f.answer(req, http.StatusNotFound, "application/json", []byte(`{"errors":[{"code":"NOT_FOUND"}]}`), nil), nil
		}
		return f.answer(req, http.StatusOK, f.indexType(), f.referrers, f.link(req)), nil
	case strings.Contains(path, "/manifests/sha256-") && strings.HasSuffix(path, ".sig"):
		if f.mode&modeCosign == 0 {
			return f.answer(req, http.StatusNotFound, "application/json", []byte(`{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`), nil), nil
		}
		return f.answer(req, http.StatusOK, ocispec.MediaTypeImageManifest, f.manifest, nil), nil
	case strings.Contains(path, "/manifests/sha256-"):
		return f.answer(req, http.StatusOK, f.indexType(), f.referrers, nil), nil
	case strings.Contains(path, "/manifests/"):
		return f.answer(req, http.StatusOK, ocispec.MediaTypeImageManifest, f.manifest, nil), nil
	}
	return f.answer(req, http.StatusNotFound, "application/json", nil, nil), nil
}

func (f *fuzzRegistry) indexType() string {
	if f.mode&modeJSONType != 0 {
		return "application/json"
	}
	return ocispec.MediaTypeImageIndex
}

func (f *fuzzRegistry) link(req *http.Request) http.Header {
	if f.mode&modeLinkSelf == 0 {
		return nil
	}
	return http.Header{"Link": {`<` + req.URL.Path + `?last=x>; rel="next"`}}
}

func (f *fuzzRegistry) answer(req *http.Request, status int, mediaType string, body []byte, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", mediaType)
	dg := digest.FromBytes(body)
	if f.mode&modeWrongDigest != 0 {
		dg = digest.FromString("something else")
	}
	h.Set("Docker-Content-Digest", dg.String())
	length := int64(len(body))
	if f.mode&modeNoLength != 0 && req.Method != http.MethodHead {
		length = -1
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if req.Method == http.MethodHead {
		body = nil
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: length, Request: req, ProtoMajor: 1, ProtoMinor: 1}
}

// sentinels are the errors every store failure must wrap (or the
// caller's context error).
var sentinels = []error{errdef.ErrInvalidReference, errdef.ErrNotFound, errdef.ErrSizeExceedsLimit, errdef.ErrInvalidContent,
	errdef.ErrUnsupported, errdef.ErrUnauthorized, errdef.ErrRegistryUnavailable, context.DeadlineExceeded, context.Canceled}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzStoreResponses feeds the store arbitrary referrers listings (OCI
// image indexes, from the referrers API or the referrers tag schema) and
// manifests, as a hostile or broken registry could serve them. The store
// never panics; each failure wraps an errdef sentinel; a listing is never
// longer than MaxReferrers; content it returns is the content its
// descriptor names, byte for byte; and a listing whose pages link on
// forever ends.
func FuzzStoreResponses(f *testing.F) {
	sub := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	sig := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + sub.Digest.String() + `","size":7}}`)
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature","digest":"` +
		digest.FromBytes(sig).String() + `","size":` + strconv.Itoa(len(sig)) + `},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.oci.empty.v1+json","digest":"` +
		digest.FromBytes(sig).String() + `","size":` + strconv.Itoa(len(sig)) + `}]}`)
	for _, mode := range []uint8{0, modeNoReferrersAPI, modeCosign, modeJSONType, modeLinkSelf, modeWrongDigest, modeNoLength} {
		f.Add(index, sig, mode)
	}
	f.Add([]byte(`{"manifests":[{"digest":"sha256:zz","size":-1}]}`), []byte(`{`), uint8(0))
	f.Add([]byte(`{"manifests":null}`), []byte(`null`), uint8(modeLinkSelf))
	f.Add([]byte(`{"manifests":[`+strings.Repeat(`{"digest":"sha256:`+strings.Repeat("a", 64)+`","size":1},`, 40)+`{}]}`), sig, uint8(modeCosign))

	f.Fuzz(func(t *testing.T, referrers, manifest []byte, mode uint8) {
		reg := &fuzzRegistry{referrers: referrers, manifest: manifest, mode: mode}
		store, err := regstore.New(regstore.Options{Transport: reg, CosignEnabled: mode&modeCosign != 0, MaxReferrers: 32,
			MaxRetries: -1, MaxManifestBytes: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ref := registry.Reference{Registry: fuzzHost, Repository: "app"}

		list, err := store.Referrers(ctx, ref, sub)
		switch {
		case err != nil && !wrapsSentinel(err):
			t.Fatalf("Referrers: %v wraps no sentinel", err)
		case err == nil && len(list) > 32:
			t.Fatalf("Referrers listed %d, more than MaxReferrers", len(list))
		}
		for _, d := range list {
			reg.requests.Store(0)
			data, err := store.Fetch(ctx, ref, d)
			switch {
			case err != nil && !wrapsSentinel(err):
				t.Fatalf("Fetch(%+v): %v wraps no sentinel", d, err)
			case err == nil && (int64(len(data)) != d.Size || digest.FromBytes(data) != d.Digest):
				t.Fatalf("Fetch(%+v) returned %d bytes of digest %s", d, len(data), digest.FromBytes(data))
			}
		}

		reg.requests.Store(0)
		ref.Reference = "v1"
		desc, err := store.Resolve(ctx, ref)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("Resolve: %v wraps no sentinel", err)
			}
			return
		}
		data, err := store.Fetch(ctx, ref, desc)
		switch {
		case err != nil && !wrapsSentinel(err):
			t.Fatalf("Fetch(resolved %+v): %v wraps no sentinel", desc, err)
		case err == nil && (int64(len(data)) != desc.Size || digest.FromBytes(data) != desc.Digest):
			t.Fatalf("Fetch(resolved %+v) returned %d bytes of digest %s", desc, len(data), digest.FromBytes(data))
		}
	})
}
