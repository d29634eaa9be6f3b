package sbom_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/verifier/sbom"
)

// contents serves content by digest, standing in for a registry store.
type contents map[digest.Digest][]byte

func (c contents) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := c[desc.Digest]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s: not found", desc.Digest)
}

// Verify an SPDX SBOM attached to an image with `oras attach --artifact-type
// application/spdx+json IMAGE sbom.spdx.json`, against Ratify v1's
// documented deny lists: no busybox 1.36.1-r0, nothing under MPL-2.0.
func ExampleVerifier_Verify() {
	v, err := sbom.New(sbom.Config{
		Name:          "verifier-sbom",
		ArtifactTypes: sbom.List{sbom.ArtifactTypeSPDX},
		Settings: sbom.Settings{
			DisallowedLicenses: []string{"MPL-2.0"},
			DisallowedPackages: []sbom.Package{{Name: "busybox", Version: "1.36.1-r0"}},
		},
	}, sbom.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The SBOM, as syft writes it (abridged), stored as oras stores a file.
	doc := []byte(`{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT",
		"creationInfo": {"created": "2024-03-01T12:00:00Z", "creators": ["Tool: syft-0.105.0"]},
		"packages": [
			{"name": "busybox", "versionInfo": "1.36.1-r0", "licenseConcluded": "GPL-2.0-only"},
			{"name": "musl", "versionInfo": "1.2.4-r0", "licenseConcluded": "MIT"}]}`)
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(doc), Size: int64(len(doc))}
	image := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	manifest, _ := json.Marshal(ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: sbom.ArtifactTypeSPDX,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &image,
	})
	artifact := ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: sbom.ArtifactTypeSPDX,
		Digest:       digest.FromBytes(manifest),
		Size:         int64(len(manifest)),
	}
	store := contents{artifact.Digest: manifest, layer.Digest: doc}

	subject := ratify.Subject{
		Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "sbom/alpine", Reference: image.Digest.String()},
		Descriptor: image,
	}
	report, err := v.Verify(context.Background(), subject, artifact, store)
	if err != nil {
		fmt.Println("could not verify:", err)
		return
	}
	fmt.Println(report.IsSuccess, report.ErrorReason)
	fmt.Printf("%+v\n", report.Extensions["packageViolations"])
	// Output:
	// false license or package violation found: 1 disallowed package
	// [{Name:busybox Version:1.36.1-r0 License:GPL-2.0-only}]
}
