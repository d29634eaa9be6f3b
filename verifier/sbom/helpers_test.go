package sbom

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// image is the descriptor of the subject every test attaches SBOMs to.
var image = ocispec.Descriptor{
	MediaType: ocispec.MediaTypeImageManifest,
	Digest:    digest.FromString("the demo image manifest"),
	Size:      1024,
}

var subject = ratify.Subject{
	Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "sbom/alpine", Reference: image.Digest.String()},
	Descriptor: image,
}

// store serves content by digest, as a ratify.Store does after checking
// it, and records what was fetched.
type store struct {
	mu      sync.Mutex
	blobs   map[digest.Digest][]byte
	fetched []digest.Digest
}

func newStore() *store { return &store{blobs: map[digest.Digest][]byte{}} }

func (s *store) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetched = append(s.fetched, desc.Digest)
	b, ok := s.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return b, nil
}

// put stores data and returns its descriptor.
func (s *store) put(mediaType string, data []byte) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	s.blobs[d.Digest] = data
	return d
}

func (s *store) wasFetched(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.fetched, d)
}

// attach stores an artifact as `oras attach` pushes it: an OCI image
// manifest of artifactType with the empty config, the document as its one
// layer of layerType, and the image as subject. It returns the manifest's
// descriptor as a referrers listing shows it.
func (s *store) attach(t testing.TB, artifactType, layerType string, doc []byte) ocispec.Descriptor {
	t.Helper()
	layer := s.put(layerType, doc)
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: "sbom.json"}
	return s.manifest(t, ocispec.Manifest{ArtifactType: artifactType, Layers: []ocispec.Descriptor{layer}})
}

// manifest stores m, completed with what every manifest has, and returns
// its descriptor as a referrers listing shows it.
func (s *store) manifest(t testing.TB, m ocispec.Manifest) ocispec.Descriptor {
	t.Helper()
	m.SchemaVersion = 2
	if m.MediaType == "" {
		m.MediaType = ocispec.MediaTypeImageManifest
	}
	if m.Config.MediaType == "" {
		m.Config = ocispec.DescriptorEmptyJSON
	}
	m.Subject = &image
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := s.put(m.MediaType, raw)
	d.ArtifactType = m.ArtifactType
	return d
}

// testdata reads a file of testdata/.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newVerifier builds a verifier of settings, failing the test on error.
func newVerifier(t testing.TB, s Settings, opts Options) *Verifier {
	t.Helper()
	v, err := New(Config{Settings: s}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// violations returns the names of the packages in a report's violations
// extension (key), in order.
func violations(t testing.TB, r ratify.Report, key string) []string {
	t.Helper()
	raw, ok := r.Extensions[key]
	if !ok {
		return nil
	}
	vs, ok := raw.([]Violation)
	if !ok {
		t.Fatalf("extension %s is %T, not []Violation", key, raw)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
	}
	return names
}

// The verifier is a ratify.Verifier that asks for nested verification.
var (
	_ ratify.Verifier       = (*Verifier)(nil)
	_ ratify.NestedVerifier = (*Verifier)(nil)
)
