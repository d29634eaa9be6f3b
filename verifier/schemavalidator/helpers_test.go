package schemavalidator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// Media and artifact types of the tests: Trivy's SARIF report, as v1's
// documentation configures the verifier.
const (
	sarifArtifactType = "application/vnd.aquasecurity.trivy.report.sarif.v1"
	sarifMediaType    = "application/sarif+json"
)

// sarifSchema is a small schema in the shape of SARIF's: a version and a
// list of runs, each naming its tool.
const sarifSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["version", "runs"],
  "properties": {
    "version": {"enum": ["2.1.0"]},
    "runs": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["tool"],
        "properties": {"tool": {"type": "object", "required": ["driver"]}}
      }
    }
  }
}`

var subject = ratify.Subject{
	Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "demo", Reference: "v1"},
	Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5},
}

// memFetcher serves content by digest, as a store would after checking it.
type memFetcher struct {
	mu      sync.Mutex
	content map[digest.Digest][]byte
}

func (m *memFetcher) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.content[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return b, nil
}

// layer is one layer of a test artifact.
type layer struct {
	mediaType string
	blob      []byte
}

// artifact stores a manifest of the given layers, with its blobs, and
// returns the manifest's descriptor as the store hands it to verifiers.
func artifact(t testing.TB, layers ...layer) (ocispec.Descriptor, *memFetcher) {
	t.Helper()
	f := &memFetcher{content: map[digest.Digest][]byte{}}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: sarifArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{},
		Subject:      &subject.Descriptor,
	}
	m.SchemaVersion = 2
	for _, l := range layers {
		d := ocispec.Descriptor{MediaType: l.mediaType, Digest: digest.FromBytes(l.blob), Size: int64(len(l.blob))}
		m.Layers = append(m.Layers, d)
		f.content[d.Digest] = l.blob
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw)), ArtifactType: sarifArtifactType}
	f.content[desc.Digest] = raw
	return desc, f
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sarifVerifier is a verifier of SARIF reports against sarifSchema, read
// from a file.
func sarifVerifier(t testing.TB, opts Options) *Verifier {
	t.Helper()
	path := writeFile(t, t.TempDir(), "sarif.schema.json", sarifSchema)
	v, err := New(Config{
		Name:          "schemavalidator",
		ArtifactTypes: List{sarifArtifactType},
		Settings:      Settings{Schemas: map[string]Schema{sarifMediaType: {Location: "file://" + path}}},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// layerResults returns the layer results of a report.
func layerResults(t testing.TB, r ratify.Report) []LayerResult {
	t.Helper()
	l, ok := r.Extensions["layers"].([]LayerResult)
	if !ok {
		t.Fatalf("extensions have no layers: %#v", r.Extensions)
	}
	return l
}
