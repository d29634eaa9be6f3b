package sbom

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
)

// TestVerifyRules runs the deny lists over the SPDX document syft writes
// and the CycloneDX bom trivy writes for the same small alpine image.
func TestVerifyRules(t *testing.T) {
	spdxDoc, cdxDoc := testdata(t, "alpine.spdx.json"), testdata(t, "alpine.cdx.json")
	cases := []struct {
		name         string
		artifactType string
		doc          []byte
		settings     Settings
		wantLicenses []string // packages with license violations; nil: none
		wantPackages []string
	}{
		{name: "spdx/no rules", artifactType: ArtifactTypeSPDX, doc: spdxDoc},
		{name: "spdx/licenses absent", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedLicenses: []string{"MPL-2.0", "GPL-3.0-only", "GPL-2.0"}}},
		{name: "spdx/license concluded", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings:     Settings{DisallowedLicenses: []string{"gpl-2.0-ONLY"}},
			wantLicenses: []string{"alpine-baselayout", "busybox", "busybox-binsh"}},
		{name: "spdx/license declared when nothing concluded", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedLicenses: []string{"Apache-2.0"}}, wantLicenses: []string{"libcrypto3"}},
		{name: "spdx/license in an expression", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedLicenses: []string{"GPL-2.0-or-later"}}, wantLicenses: []string{"scanelf"}},
		{name: "spdx/license after an expression", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedLicenses: []string{"LGPL-2.1-only"}}, wantLicenses: []string{"scanelf"}},
		{name: "spdx/license expression", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedLicenses: []string{"MIT OR GPL-2.0-or-later"}}, wantLicenses: []string{"scanelf"}},
		{name: "spdx/concluded wins over declared", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedLicenses: []string{"BSD-2-Clause", "Zlib"}}, wantLicenses: []string{"zlib"}},
		{name: "spdx/package any version", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedPackages: []Package{{Name: "busybox"}}}, wantPackages: []string{"busybox"}},
		{name: "spdx/package version", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings:     Settings{DisallowedPackages: []Package{{Name: "busybox", Version: "1.36.1-r0"}, {Name: "busybox-binsh", VersionInfo: "1.36.1-r0"}}},
			wantPackages: []string{"busybox", "busybox-binsh"}},
		{name: "spdx/package other version", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedPackages: []Package{{Name: "busybox", Version: "1.35.0-r0"}, {Name: "BusyBox"}}}},
		{name: "spdx/package listed twice is one violation", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings: Settings{DisallowedPackages: []Package{{Name: "musl"}, {Name: "musl", Version: "1.2.4-r0"}}}, wantPackages: []string{"musl"}},
		{name: "spdx/both", artifactType: ArtifactTypeSPDX, doc: spdxDoc,
			settings:     Settings{DisallowedLicenses: []string{"Zlib"}, DisallowedPackages: []Package{{Name: "musl"}}},
			wantLicenses: []string{"zlib"}, wantPackages: []string{"musl"}},
		{name: "cyclonedx/no rules", artifactType: ArtifactTypeCycloneDX, doc: cdxDoc},
		{name: "cyclonedx/license by name", artifactType: ArtifactTypeCycloneDX, doc: cdxDoc,
			settings: Settings{DisallowedLicenses: []string{"GPL-2.0-only"}}, wantLicenses: []string{"busybox"}},
		{name: "cyclonedx/license by id in a nested component", artifactType: ArtifactTypeCycloneDX, doc: cdxDoc,
			settings: Settings{DisallowedLicenses: []string{"AGPL-3.0-only"}}, wantLicenses: []string{"github.com/example/lib"}},
		{name: "cyclonedx/license name of several words", artifactType: ArtifactTypeCycloneDX, doc: cdxDoc,
			settings: Settings{DisallowedLicenses: []string{"custom license"}}, wantLicenses: []string{"github.com/example/lib"}},
		{name: "cyclonedx/license expression", artifactType: ArtifactTypeCycloneDX, doc: cdxDoc,
			settings: Settings{DisallowedLicenses: []string{"GPL-2.0-or-later"}}, wantLicenses: []string{"scanelf"}},
		{name: "cyclonedx/package", artifactType: ArtifactTypeCycloneDX + "; version=1.5", doc: cdxDoc,
			settings:     Settings{DisallowedPackages: []Package{{Name: "busybox", Version: "1.36.1-r0"}, {Name: "github.com/example/lib"}}},
			wantPackages: []string{"busybox", "github.com/example/lib"}},
		{name: "cyclonedx/metadata component", artifactType: ArtifactTypeCycloneDX, doc: cdxDoc,
			settings:     Settings{DisallowedPackages: []Package{{Name: "127.0.0.1:5000/sbom/alpine:3.18.2"}}},
			wantPackages: []string{"127.0.0.1:5000/sbom/alpine:3.18.2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore()
			desc := s.attach(t, c.artifactType, ocispec.MediaTypeImageLayer, c.doc)
			r, err := newVerifier(t, c.settings, Options{}).Verify(context.Background(), subject, desc, s)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			pass := c.wantLicenses == nil && c.wantPackages == nil
			if r.IsSuccess != pass {
				t.Fatalf("IsSuccess %t, want %t: %+v", r.IsSuccess, pass, r)
			}
			if got := violations(t, r, "licenseViolations"); !slices.Equal(got, c.wantLicenses) {
				t.Errorf("license violations %q, want %q", got, c.wantLicenses)
			}
			if got := violations(t, r, "packageViolations"); !slices.Equal(got, c.wantPackages) {
				t.Errorf("package violations %q, want %q", got, c.wantPackages)
			}
			if _, ok := r.Extensions["creationInfo"].(CreationInfo); !ok {
				t.Errorf("no creationInfo in %v", r.Extensions)
			}
			if !pass && (r.ErrorReason == "" || r.Remediation == "" || !strings.HasPrefix(r.Message, "SBOM validation failed")) {
				t.Errorf("failed report without reason or remediation: %+v", r)
			}
		})
	}
}

// TestVerifyExtensions checks the JSON of a failed report's extensions:
// Ratify v1's keys and the capitalized keys of its violations.
func TestVerifyExtensions(t *testing.T) {
	s := newStore()
	desc := s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, testdata(t, "alpine.spdx.json"))
	v := newVerifier(t, Settings{DisallowedLicenses: []string{"Zlib"}, DisallowedPackages: []Package{{Name: "busybox", Version: "1.36.1-r0"}}}, Options{})
	r, err := v.Verify(context.Background(), subject, desc, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(r.Extensions)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"creationInfo":{"created":"2024-03-01T12:00:00Z","creators":["Organization: Anchore, Inc","Tool: syft-0.105.0"],"licenseListVersion":"3.22"},` +
		`"licenseViolations":[{"Name":"zlib","Version":"1.2.13-r1","License":"Zlib"}],` +
		`"packageViolations":[{"Name":"busybox","Version":"1.36.1-r0","License":"GPL-2.0-only"}]}`
	if string(got) != want {
		t.Errorf("extensions\n got %s\nwant %s", got, want)
	}
	if want := "license or package violation found: 1 package with a disallowed license and 1 disallowed package"; r.ErrorReason != want {
		t.Errorf("ErrorReason %q, want %q", r.ErrorReason, want)
	}

	s = newStore()
	desc = s.attach(t, ArtifactTypeCycloneDX, ArtifactTypeCycloneDX, testdata(t, "alpine.cdx.json"))
	if r, err = v.Verify(context.Background(), subject, desc, s); err != nil {
		t.Fatal(err)
	}
	ci, _ := r.Extensions["creationInfo"].(CreationInfo)
	if ci.Created != "2024-03-01T12:00:00+00:00" || !slices.Equal(ci.Creators, []string{"Tool: trivy-0.50.0"}) {
		t.Errorf("CycloneDX creationInfo %+v", ci)
	}
}

// TestVerifyMaxListed checks that a report lists at most
// MaxListedViolations violations of each kind and counts them all.
func TestVerifyMaxListed(t *testing.T) {
	doc := map[string]any{"spdxVersion": "SPDX-2.3"}
	var pkgs []map[string]string
	for range MaxListedViolations + 5 {
		pkgs = append(pkgs, map[string]string{"name": "busybox", "licenseConcluded": "GPL-2.0-only"})
	}
	doc["packages"] = pkgs
	raw, _ := json.Marshal(doc)
	s := newStore()
	desc := s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, raw)
	v := newVerifier(t, Settings{DisallowedLicenses: []string{"GPL-2.0-only"}, DisallowedPackages: []Package{{Name: "busybox"}}}, Options{})
	r, err := v.Verify(context.Background(), subject, desc, s)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := len(violations(t, r, "licenseViolations")), len(violations(t, r, "packageViolations")); n != MaxListedViolations || m != MaxListedViolations {
		t.Errorf("listed %d and %d violations, want %d each", n, m, MaxListedViolations)
	}
	if !strings.Contains(r.ErrorReason, "105 packages with a disallowed license and 105 disallowed packages (the first 100 of each listed)") {
		t.Errorf("ErrorReason %q does not count every violation", r.ErrorReason)
	}
}

// TestVerifyMalformed checks that a document that is not what its artifact
// type says is a failed report that says why, never an error or a panic.
func TestVerifyMalformed(t *testing.T) {
	cases := []struct {
		name, artifactType, doc, want string
	}{
		{"not json", ArtifactTypeSPDX, `{"spdxVersion": "SPDX-2.3", "packages": [`, "not valid JSON"},
		{"array", ArtifactTypeSPDX, `[{"spdxVersion": "SPDX-2.3"}]`, "the document is a JSON array, not an object"},
		{"no spdxVersion", ArtifactTypeSPDX, `{"packages": []}`, `no "spdxVersion"`},
		{"cyclonedx as spdx", ArtifactTypeSPDX, string(testdata(t, "alpine.cdx.json")), `no "spdxVersion"`},
		{"spdx 1", ArtifactTypeSPDX, `{"spdxVersion": "SPDX-1.2"}`, `spdxVersion "SPDX-1.2" is not SPDX 2.x`},
		{"spdx 3", ArtifactTypeSPDX, `{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}`, "SPDX 3"},
		{"packages not an array", ArtifactTypeSPDX, `{"spdxVersion": "SPDX-2.3", "packages": {"name": "x"}}`, "packages is a JSON object, not an array"},
		{"package name not a string", ArtifactTypeSPDX, `{"spdxVersion": "SPDX-2.3", "packages": [{"name": 7}]}`, "packages.name is a JSON number, not a string"},
		{"spdx as cyclonedx", ArtifactTypeCycloneDX, string(testdata(t, "alpine.spdx.json")), `"bomFormat" is not "CycloneDX"`},
		{"cyclonedx 2", ArtifactTypeCycloneDX, `{"bomFormat": "CycloneDX", "specVersion": "2.0"}`, `"specVersion" is not 1.x`},
		{"cyclonedx tools", ArtifactTypeCycloneDX, `{"bomFormat": "CycloneDX", "specVersion": "1.5", "metadata": {"tools": "syft"}}`, "metadata.tools is neither"},
		{"cyclonedx licenses", ArtifactTypeCycloneDX, `{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "a", "licenses": "MIT"}]}`, "components.licenses is a JSON string, not an array"},
		{"empty", ArtifactTypeCycloneDX, ` `, "not valid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore()
			desc := s.attach(t, c.artifactType, ocispec.MediaTypeImageLayer, []byte(c.doc))
			v := newVerifier(t, Settings{DisallowedLicenses: []string{"GPL-2.0-only"}}, Options{})
			r, err := v.Verify(context.Background(), subject, desc, s)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			t.Log(r.ErrorReason)
			if r.IsSuccess || !strings.Contains(r.ErrorReason, "the SBOM is not a valid") || !strings.Contains(r.ErrorReason, c.want) {
				t.Errorf("report %+v, want a failure saying %q", r, c.want)
			}
		})
	}
}

// TestVerifyArtifact checks how the verifier reads the artifact's
// manifest: which layers it takes for the document, and which manifests it
// refuses, as failed reports.
func TestVerifyArtifact(t *testing.T) {
	doc := testdata(t, "alpine.spdx.json")
	layer := func(s *store, mediaType string) ocispec.Descriptor { return s.put(mediaType, doc) }
	cases := []struct {
		name string
		// build stores the artifact and returns its descriptor.
		build func(t *testing.T, s *store) ocispec.Descriptor
		want  string // empty: the document is read and passes
	}{
		{"oras default layer", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.attach(t, ArtifactTypeSPDX, ocispec.MediaTypeImageLayer, doc)
		}, ""},
		{"spdx layer", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, doc)
		}, ""},
		{"json layer", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.attach(t, ArtifactTypeSPDX, "application/json", doc)
		}, ""},
		{"document beside another file", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.manifest(t, ocispec.Manifest{ArtifactType: ArtifactTypeSPDX,
				Layers: []ocispec.Descriptor{s.put("text/plain", []byte("notes")), layer(s, ArtifactTypeSPDX)}})
		}, ""},
		{"artifact type from the config (before image-spec v1.1)", func(t *testing.T, s *store) ocispec.Descriptor {
			d := s.manifest(t, ocispec.Manifest{Config: s.put(ArtifactTypeSPDX, []byte("{}")),
				Layers: []ocispec.Descriptor{layer(s, ocispec.MediaTypeImageLayer)}})
			d.ArtifactType = ""
			return d
		}, ""},
		{"artifact manifest", func(t *testing.T, s *store) ocispec.Descriptor {
			m, _ := json.Marshal(map[string]any{"mediaType": mediaTypeArtifactManifest, "artifactType": ArtifactTypeSPDX,
				"blobs": []ocispec.Descriptor{layer(s, ArtifactTypeSPDX)}})
			return s.put(mediaTypeArtifactManifest, m)
		}, ""},
		{"gzip layer", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.attach(t, ArtifactTypeSPDX, ocispec.MediaTypeImageLayerGzip, doc)
		}, "no layer is a application/spdx+json document: layer media types \"application/vnd.oci.image.layer.v1.tar+gzip\""},
		{"cyclonedx layer of an spdx artifact", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.attach(t, ArtifactTypeSPDX, ArtifactTypeCycloneDX, doc)
		}, "no layer is a application/spdx+json document"},
		{"two documents", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.manifest(t, ocispec.Manifest{ArtifactType: ArtifactTypeSPDX,
				Layers: []ocispec.Descriptor{layer(s, ArtifactTypeSPDX), s.put(ocispec.MediaTypeImageLayer, []byte("{}"))}})
		}, "2 layers could each be the application/spdx+json document"},
		{"no layers", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.manifest(t, ocispec.Manifest{ArtifactType: ArtifactTypeSPDX})
		}, "the manifest has no layer"},
		{"empty layer", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, nil)
		}, "layer size 0 is not positive"},
		{"bad layer digest", func(t *testing.T, s *store) ocispec.Descriptor {
			l := layer(s, ArtifactTypeSPDX)
			l.Digest = "sha256:nothex"
			return s.manifest(t, ocispec.Manifest{ArtifactType: ArtifactTypeSPDX, Layers: []ocispec.Descriptor{l}})
		}, `layer digest "sha256:nothex" is not valid`},
		{"other artifact type", func(t *testing.T, s *store) ocispec.Descriptor {
			d := s.attach(t, "application/vnd.syft+json", ocispec.MediaTypeImageLayer, doc)
			d.ArtifactType = ArtifactTypeSPDX // as a listing that misreports it would
			return d
		}, `artifact type "application/vnd.syft+json" is not an SBOM format`},
		{"image index", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.put(ocispec.MediaTypeImageIndex, []byte(`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
		}, "is not an OCI image manifest"},
		{"manifest not json", func(t *testing.T, s *store) ocispec.Descriptor {
			return s.put(ocispec.MediaTypeImageManifest, []byte("sbom"))
		}, "manifest does not parse"},
	}
	v := newVerifier(t, Settings{DisallowedLicenses: []string{"AGPL-3.0-only"}}, Options{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore()
			r, err := v.Verify(context.Background(), subject, c.build(t, s), s)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.want == "" {
				if !r.IsSuccess {
					t.Errorf("report %+v, want a pass", r)
				}
				return
			}
			if r.IsSuccess || !strings.Contains(r.ErrorReason, c.want) || r.Remediation == "" {
				t.Errorf("report %+v, want a failure saying %q", r, c.want)
			}
		})
	}
}

// TestVerifyErrors checks what leaves no verdict: content that cannot be
// read, and content larger than the limits, refused before it is fetched.
func TestVerifyErrors(t *testing.T) {
	doc := testdata(t, "alpine.spdx.json")
	cases := []struct {
		name  string
		opts  Options
		build func(t *testing.T, s *store) (artifact ocispec.Descriptor, unfetched ocispec.Descriptor)
		want  error
	}{
		{"manifest missing", Options{}, func(t *testing.T, s *store) (ocispec.Descriptor, ocispec.Descriptor) {
			d := s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, doc)
			delete(s.blobs, d.Digest)
			return d, ocispec.Descriptor{}
		}, errdef.ErrNotFound},
		{"document missing", Options{}, func(t *testing.T, s *store) (ocispec.Descriptor, ocispec.Descriptor) {
			d := s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, doc)
			delete(s.blobs, digest.FromBytes(doc))
			return d, ocispec.Descriptor{}
		}, errdef.ErrNotFound},
		{"document over the limit", Options{MaxDocumentSize: int64(len(doc)) - 1}, func(t *testing.T, s *store) (ocispec.Descriptor, ocispec.Descriptor) {
			return s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, doc), ocispec.Descriptor{Digest: digest.FromBytes(doc)}
		}, errdef.ErrSizeExceedsLimit},
		{"document over the default limit", Options{}, func(t *testing.T, s *store) (ocispec.Descriptor, ocispec.Descriptor) {
			l := s.put(ArtifactTypeSPDX, doc)
			l.Size = DefaultMaxDocumentSize + 1
			return s.manifest(t, ocispec.Manifest{ArtifactType: ArtifactTypeSPDX, Layers: []ocispec.Descriptor{l}}), l
		}, errdef.ErrSizeExceedsLimit},
		{"fetched document over the limit", Options{MaxDocumentSize: 64}, func(t *testing.T, s *store) (ocispec.Descriptor, ocispec.Descriptor) {
			l := s.put(ArtifactTypeSPDX, doc)
			l.Size = 10 // a store that does not check sizes
			return s.manifest(t, ocispec.Manifest{ArtifactType: ArtifactTypeSPDX, Layers: []ocispec.Descriptor{l}}), ocispec.Descriptor{}
		}, errdef.ErrSizeExceedsLimit},
		{"manifest over the limit", Options{}, func(t *testing.T, s *store) (ocispec.Descriptor, ocispec.Descriptor) {
			d := s.attach(t, ArtifactTypeSPDX, ArtifactTypeSPDX, doc)
			d.Size = maxManifestSize + 1
			return d, d
		}, errdef.ErrSizeExceedsLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore()
			artifact, unfetched := c.build(t, s)
			v := newVerifier(t, Settings{}, c.opts)
			r, err := v.Verify(context.Background(), subject, artifact, s)
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %+v, %v; want an error wrapping %v", r, err, c.want)
			}
			if unfetched.Digest != "" && s.wasFetched(unfetched.Digest) {
				t.Errorf("%s was fetched before its size was checked", unfetched.Digest)
			}
		})
	}
}
