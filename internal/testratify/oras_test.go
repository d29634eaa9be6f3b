package testratify

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testregistry"
)

func orasBin(t *testing.T) string {
	t.Helper()
	bin, err := OrasCLI()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestOrasAttach attaches a file with `oras attach` in each way oras links
// an artifact to its subject, to registries with and without the referrers
// API, reads back what oras pushed and checks its shape: an OCI image
// manifest of the artifact type with the empty config, one layer holding
// the file's bytes, the annotations given (and the created time oras adds)
// and the subject; then checks that the referrers listing (the API or the
// tag schema) and `oras discover` find it.
func TestOrasAttach(t *testing.T) {
	bin := orasBin(t)
	cases := []struct {
		name      string
		referrers bool
		spec      DistributionSpec
		mediaType string
	}{
		{"api", true, ReferrersAPI, ""},
		{"api/media-type", true, ReferrersAPI, "application/spdx+json"},
		{"tag-schema", false, ReferrersTag, "application/sarif+json"},
		{"tag-schema-on-api-registry", true, ReferrersTag, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := NewOras(t, bin)
			reg := testregistry.New(t, testregistry.Options{Referrers: c.referrers})
			subject := reg.PushImage(t, "app", "v1")
			ref := reg.Reference("app", subject.Digest.String()).String()
			data := []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`)
			file := filepath.Join(t.TempDir(), "sbom.spdx.json")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			a := Attachment{
				ArtifactType: "application/spdx+json",
				File:         file,
				MediaType:    c.mediaType,
				Annotations:  map[string]string{"org.example.note": "a=b"},
				Spec:         c.spec,
			}
			desc := o.Attach(ref, a)

			s := stored{t: t, repo: repository(t, reg), subject: subject}
			if desc.MediaType != ocispec.MediaTypeImageManifest || desc.ArtifactType != a.ArtifactType {
				t.Errorf("oras reported %s of artifactType %q, want an image manifest of %q", desc.MediaType, desc.ArtifactType, a.ArtifactType)
			}
			var m ocispec.Manifest
			s.fetch(desc, &m)
			wantLayer := c.mediaType
			if wantLayer == "" {
				wantLayer = ocispec.MediaTypeImageLayer
			}
			switch {
			case m.ArtifactType != a.ArtifactType || m.Config.MediaType != ocispec.MediaTypeEmptyJSON:
				t.Errorf("artifactType %q, config %s: want %q and the empty config", m.ArtifactType, m.Config.MediaType, a.ArtifactType)
			case m.Subject == nil || m.Subject.Digest != subject.Digest:
				t.Errorf("subject %v, want %s", m.Subject, subject.Digest)
			case len(m.Layers) != 1 || m.Layers[0].MediaType != wantLayer || m.Layers[0].Digest != digest.FromBytes(data):
				t.Errorf("layers %+v, want one %s holding the file", m.Layers, wantLayer)
			case m.Layers[0].Annotations[ocispec.AnnotationTitle] != "sbom.spdx.json":
				t.Errorf("layer annotations %v, want the file's name as title", m.Layers[0].Annotations)
			case m.Annotations["org.example.note"] != "a=b" || m.Annotations[ocispec.AnnotationCreated] == "":
				t.Errorf("manifest annotations %v, want the given one and %s", m.Annotations, ocispec.AnnotationCreated)
			}
			if got := s.fetch(m.Layers[0], nil); string(got) != string(data) {
				t.Errorf("layer holds %q, want the file's bytes", got)
			}

			// oras-go reads the API, or the tag schema when the registry has none.
			if refs := s.referrers(); len(refs) != 1 || refs[0].Digest != desc.Digest {
				t.Errorf("referrers %v, want the artifact %s", refs, desc.Digest)
			}
			tagged := slices.Contains(s.tags(), s.schemaTag())
			if tagged != (c.spec == ReferrersTag) {
				t.Errorf("referrers tag schema index present: %t, want %t (spec %s)", tagged, c.spec == ReferrersTag, c.spec)
			}
			found := o.Discover(ref, c.spec)
			if len(found) != 1 || found[0].Digest != desc.Digest || found[0].ArtifactType != a.ArtifactType {
				t.Errorf("oras discover found %+v, want the artifact %s", found, desc.Digest)
			}
		})
	}
}

// TestOrasAttachReferrersAPIOnly checks what --distribution-spec
// v1.1-referrers-api does on a registry without the referrers API: oras
// pushes the artifact without the referrers tag schema's index, so no
// referrers listing finds it. Tests that attach to such a registry use
// ReferrersTag.
func TestOrasAttachReferrersAPIOnly(t *testing.T) {
	o := NewOras(t, orasBin(t))
	reg := testregistry.New(t, testregistry.Options{})
	subject := reg.PushImage(t, "app", "v1")
	file := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(file, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := reg.Reference("app", subject.Digest.String()).String()
	desc := o.Attach(ref, Attachment{ArtifactType: "application/sarif+json", File: file, Spec: ReferrersAPI})
	s := stored{t: t, repo: repository(t, reg), subject: subject}
	var m ocispec.Manifest
	s.fetch(desc, &m)
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		t.Errorf("subject %v, want %s", m.Subject, subject.Digest)
	}
	if refs := s.referrers(); len(refs) != 0 {
		t.Errorf("referrers %v, want none without the API or the tag schema", refs)
	}
	if tags := s.tags(); len(tags) != 0 {
		t.Errorf("tags %q, want none", tags)
	}
}

// TestOrasEgressTrap checks that the trap sees oras reach out: a registry
// that is not on loopback is asked through the proxy.
func TestOrasEgressTrap(t *testing.T) {
	o := NewOras(t, orasBin(t))
	r := o.Run("", "resolve", "--plain-http", "registry.invalid/app:v1")
	if r.Err == nil || len(r.Egress) == 0 || !strings.Contains(r.Egress[0], "registry.invalid") {
		t.Fatalf("want a failed run that went through the trap, got %q: %s", r.Egress, r)
	}
}
