package testregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Artifact describes an artifact manifest to push: an OCI image manifest
// with an artifactType, an empty config and one layer (what `oras attach`
// makes), optionally attached to a subject (OCI image-spec v1.1).
type Artifact struct {
	// ArtifactType is the manifest's artifactType field.
	ArtifactType string
	// Subject, when set, attaches the artifact to this manifest.
	Subject *ocispec.Descriptor
	// LayerMediaType and Layer are the single layer's media type and content.
	LayerMediaType string
	Layer          []byte
	// Annotations are the manifest's annotations.
	Annotations map[string]string
	// Tag, when set, tags the manifest (a cosign "sha256-<hex>.sig" tag).
	Tag string
}

// repository returns an oras client for repo that pushes as the test's admin.
func (r *Registry) repository(t testing.TB, repo string) *remote.Repository {
	t.Helper()
	rp, err := remote.NewRepository(r.Host() + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	rp.PlainHTTP = !r.opts.TLS
	rp.SkipReferrersGC = true
	rp.MaxMetadataBytes = 64 << 20 // tests push oversized manifests on purpose
	rp.Client = &auth.Client{
		Client:     r.server.Client(),
		Credential: auth.StaticCredential(r.Host(), auth.Credential{Username: r.opts.Username, Password: r.opts.Password}),
	}
	return rp
}

// PushBlob pushes data as a blob of mediaType to repo and returns its descriptor.
func (r *Registry) PushBlob(t testing.TB, repo, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	desc := content.NewDescriptorFromBytes(mediaType, data)
	if err := r.repository(t, repo).Blobs().Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		t.Fatalf("testregistry: push blob: %v", err)
	}
	return desc
}

// PushManifest pushes data as a manifest of mediaType to repo, tagged tag
// unless tag is empty, and returns its descriptor. A manifest with a subject
// is indexed under the referrers tag schema when the registry has no
// referrers API, as the distribution-spec v1.1 asks clients to do.
func (r *Registry) PushManifest(t testing.TB, repo, tag, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	desc := content.NewDescriptorFromBytes(mediaType, data)
	rp := r.repository(t, repo)
	ref := tag
	if ref == "" {
		ref = desc.Digest.String()
	}
	if err := rp.PushReference(context.Background(), desc, bytes.NewReader(data), ref); err != nil {
		t.Fatalf("testregistry: push manifest: %v", err)
	}
	return desc
}

// PushImage pushes a small image (an OCI image manifest with a config and
// one layer) to repo under tag and returns the manifest's descriptor.
func (r *Registry) PushImage(t testing.TB, repo, tag string) ocispec.Descriptor {
	t.Helper()
	config := r.PushBlob(t, repo, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := r.PushBlob(t, repo, ocispec.MediaTypeImageLayer, []byte("layer of "+repo+":"+tag))
	m := ocispec.Manifest{
		Versioned: versioned,
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    []ocispec.Descriptor{layer},
	}
	return r.PushManifest(t, repo, tag, m.MediaType, mustJSON(t, m))
}

// PushArtifact pushes a and returns the descriptors of its manifest (with
// ArtifactType set, as a referrers listing shows it) and of its layer.
func (r *Registry) PushArtifact(t testing.TB, repo string, a Artifact) (manifest, layer ocispec.Descriptor) {
	t.Helper()
	config := r.PushBlob(t, repo, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	config.Data = ocispec.DescriptorEmptyJSON.Data
	layer = r.PushBlob(t, repo, a.LayerMediaType, a.Layer)
	m := ocispec.Manifest{
		Versioned:    versioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: a.ArtifactType,
		Config:       config,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      a.Subject,
		Annotations:  a.Annotations,
	}
	manifest = r.PushManifest(t, repo, a.Tag, m.MediaType, mustJSON(t, m))
	manifest.ArtifactType = a.ArtifactType
	manifest.Annotations = a.Annotations
	return manifest, layer
}

var versioned = specs.Versioned{SchemaVersion: 2}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
