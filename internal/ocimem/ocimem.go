// Package ocimem is an in-memory OCI registry that serves the OCI
// distribution-spec v1.1 referrers API as the spec says: go-containerregistry's
// pkg/registry behind a thin handler that closes its gaps (see New). It backs
// `ratify demo` and the test registries; it keeps everything in memory and is
// not meant to hold anything worth keeping.
package ocimem

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options configure the registry. The zero value serves each referrers
// listing in one page.
type Options struct {
	// PageSize splits referrers listings into pages of this many
	// descriptors (with a Link header) when the client asks for no page size.
	PageSize int
}

// New returns the handler of an empty in-memory registry.
func New(opts Options) http.Handler {
	return &referrersFix{
		next:     ggcr.New(ggcr.WithReferrersSupport(true), ggcr.Logger(log.New(io.Discard, "", 0))),
		pageSize: opts.PageSize,
	}
}

// referrersFix closes the gaps of go-containerregistry's referrers API
// against the OCI distribution-spec v1.1 "Listing Referrers":
//   - each descriptor's artifactType is the manifest's own artifactType
//     field when it has one, else its config media type (ggcr always uses
//     the config media type), and carries the manifest's annotations;
//   - the artifactType filter is applied and announced in OCI-Filters-Applied;
//   - listings are paged with a Link header, ordered by digest;
//   - pushing a manifest with a subject answers with the OCI-Subject header,
//     so that clients know the registry indexes referrers itself.
type referrersFix struct {
	next     http.Handler
	pageSize int
}

func (f *referrersFix) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case strings.Contains(req.URL.Path, "/referrers/") && req.Method == http.MethodGet:
		f.referrers(w, req)
	case strings.Contains(req.URL.Path, "/manifests/") && req.Method == http.MethodPut:
		body, err := io.ReadAll(req.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
			return
		}
		var m struct {
			Subject *ocispec.Descriptor `json:"subject"`
		}
		if json.Unmarshal(body, &m) == nil && m.Subject != nil {
			w.Header().Set("OCI-Subject", m.Subject.Digest.String())
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		f.next.ServeHTTP(w, req)
	default:
		f.next.ServeHTTP(w, req)
	}
}

func (f *referrersFix) referrers(w http.ResponseWriter, req *http.Request) {
	rec := f.get(req.URL.Path)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	var index ocispec.Index
	if err := json.Unmarshal(rec.Body.Bytes(), &index); err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	repoPath := strings.TrimSuffix(req.URL.Path, "/referrers/"+pathBase(req.URL.Path))
	query := req.URL.Query()
	filter := query.Get("artifactType")
	var descs []ocispec.Descriptor
	for _, d := range index.Manifests {
		d = f.describe(repoPath, d)
		if filter == "" || d.ArtifactType == filter {
			descs = append(descs, d)
		}
	}
	slices.SortFunc(descs, func(a, b ocispec.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })

	if last := query.Get("last"); last != "" {
		i := slices.IndexFunc(descs, func(d ocispec.Descriptor) bool { return d.Digest.String() > last })
		if i < 0 {
			i = len(descs)
		}
		descs = descs[i:]
	}
	n, _ := strconv.Atoi(query.Get("n"))
	if n <= 0 {
		n = f.pageSize
	}
	if n > 0 && len(descs) > n {
		descs = descs[:n]
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {descs[n-1].Digest.String()}}
		if filter != "" {
			next.Set("artifactType", filter)
		}
		w.Header().Set("Link", "<"+req.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	}
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	index.Manifests = descs
	if index.Manifests == nil {
		index.Manifests = []ocispec.Descriptor{}
	}
	body, _ := json.Marshal(index)
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// describe fills d's artifactType and annotations from the manifest itself.
func (f *referrersFix) describe(repoPath string, d ocispec.Descriptor) ocispec.Descriptor {
	rec := f.get(repoPath + "/manifests/" + d.Digest.String())
	if rec.Code != http.StatusOK {
		return d
	}
	var m struct {
		ArtifactType string            `json:"artifactType"`
		Annotations  map[string]string `json:"annotations"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		return d
	}
	if m.ArtifactType != "" {
		d.ArtifactType = m.ArtifactType
	}
	d.Annotations = m.Annotations
	return d
}

// get serves a GET of path by the wrapped registry, uncounted.
func (f *referrersFix) get(path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func pathBase(p string) string {
	return p[strings.LastIndex(p, "/")+1:]
}

// writeError writes an error body in the format of the distribution-spec.
func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
