package sbom

import (
	"context"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzSBOM feeds arbitrary documents to the SPDX and CycloneDX parsers and
// through the whole verification. Nothing may panic; a document the parser
// refuses is a failed report that says why; content that was read is
// never an error; and a report lists no more violations than the document
// has packages. The seed corpus is in testdata/fuzz/FuzzSBOM, besides the
// documents of testdata/.
func FuzzSBOM(f *testing.F) {
	f.Add(testdata(f, "alpine.spdx.json"), false)
	f.Add(testdata(f, "alpine.cdx.json"), true)
	v := newVerifier(f, Settings{
		DisallowedLicenses: []string{"GPL-2.0-only", "MIT OR Apache-2.0"},
		DisallowedPackages: []Package{{Name: "busybox"}, {Name: "musl", Version: "1.2.4-r0"}},
	}, Options{MaxDocumentSize: 1 << 20})
	f.Fuzz(func(t *testing.T, data []byte, cyclone bool) {
		form, artifactType := spdx, ArtifactTypeSPDX
		if cyclone {
			form, artifactType = cycloneDX, ArtifactTypeCycloneDX
		}
		doc, err := parse(form, data)
		if err == nil {
			found := v.check(doc)
			if found.licenseCount > len(doc.components) || found.packageCount > len(doc.components) {
				t.Fatalf("%d and %d violations in %d packages", found.licenseCount, found.packageCount, len(doc.components))
			}
		}
		if len(data) == 0 {
			return // no layer of size 0 reaches the parser
		}
		s := newStore()
		r, verr := v.Verify(context.Background(), subject, s.attach(t, artifactType, ocispec.MediaTypeImageLayer, data), s)
		switch {
		case verr != nil:
			t.Fatalf("Verify: %v", verr)
		case err != nil && (r.IsSuccess || !strings.Contains(r.ErrorReason, err.Error())):
			t.Fatalf("parse error %q, report %+v", err, r)
		case !r.IsSuccess && (r.ErrorReason == "" || r.Remediation == ""):
			t.Fatalf("failed report without reason or remediation: %+v", r)
		}
	})
}
