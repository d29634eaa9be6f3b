package schemavalidator_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/verifier/schemavalidator"
)

// contents serves content by digest, standing in for a registry store.
type contents map[digest.Digest][]byte

func (c contents) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := c[desc.Digest]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s: not found", desc.Digest)
}

// Validate a vulnerability report attached to an image (a SARIF document
// in an OCI artifact, as `oras attach` makes it) against a schema written
// inline in the verifier's configuration.
func ExampleVerifier_Verify() {
	var cfg schemavalidator.Config
	_ = json.Unmarshal([]byte(`{
		"name": "schemavalidator",
		"artifactTypes": "application/vnd.aquasecurity.trivy.report.sarif.v1",
		"schemas": {"application/sarif+json": {"type": "object", "required": ["version", "runs"]}}
	}`), &cfg)
	v, err := schemavalidator.New(cfg, schemavalidator.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}

	report := []byte(`{"version": "2.1.0"}`)
	layer := ocispec.Descriptor{MediaType: "application/sarif+json", Digest: digest.FromBytes(report), Size: int64(len(report))}
	manifest, _ := json.Marshal(ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.aquasecurity.trivy.report.sarif.v1",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
	})
	artifact := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	store := contents{artifact.Digest: manifest, layer.Digest: report}

	subject := ratify.Subject{
		Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "demo"},
		Descriptor: ocispec.Descriptor{Digest: digest.FromString("image")},
	}
	r, err := v.Verify(context.Background(), subject, artifact, store)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.IsSuccess)
	for _, l := range r.Extensions["layers"].([]schemavalidator.LayerResult) {
		for _, e := range l.Errors {
			fmt.Printf("%s: %s\n", e.KeywordLocation, e.Message)
		}
	}
	// Output:
	// false
	// /required: missing property 'runs'
}
