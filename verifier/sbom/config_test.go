package sbom

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// TestConfigJSON decodes Ratify v1's documented sbom entry and the key v1's
// code read for a package version.
func TestConfigJSON(t *testing.T) {
	entry := `{
		"name": "sbom",
		"artifactTypes": "application/spdx+json, application/vnd.cyclonedx+json",
		"nestedReferences": "application/vnd.cncf.notary.signature",
		"disallowedLicenses": ["MPL"],
		"disallowedPackages": [{"name": "busybox", "version": "1.36.1-r0"}, {"name": "musl", "versionInfo": "1.2.4-r0"}, {"name": "zlib"}]
	}`
	var c Config
	if err := json.Unmarshal([]byte(entry), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Name:             "sbom",
		ArtifactTypes:    List{ArtifactTypeSPDX, ArtifactTypeCycloneDX},
		NestedReferences: List{"application/vnd.cncf.notary.signature"},
		Settings: Settings{
			DisallowedLicenses: []string{"MPL"},
			DisallowedPackages: []Package{{Name: "busybox", Version: "1.36.1-r0"}, {Name: "musl", VersionInfo: "1.2.4-r0"}, {Name: "zlib"}},
		},
	}
	if !slices.Equal(c.ArtifactTypes, want.ArtifactTypes) || !slices.Equal(c.NestedReferences, want.NestedReferences) ||
		!slices.Equal(c.DisallowedLicenses, want.DisallowedLicenses) || !slices.Equal(c.DisallowedPackages, want.DisallowedPackages) {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if v := c.DisallowedPackages[1].version(); v != "1.2.4-r0" {
		t.Errorf("versionInfo read as %q", v)
	}
	var l List
	if err := json.Unmarshal([]byte(`["a", "b"]`), &l); err != nil || !slices.Equal(l, List{"a", "b"}) {
		t.Errorf("array: %q, %v", l, err)
	}
	if err := json.Unmarshal([]byte(`7`), &l); err == nil {
		t.Error("a number decoded as a list")
	}
}

// TestConfigValidate checks every configuration New refuses.
func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		path string // the JSON path the error names; empty: valid
	}{
		{"empty", Config{}, ""},
		{"type", Config{Type: "sbom"}, ""},
		{"other type", Config{Type: "notation"}, "type"},
		{"cyclonedx with version", Config{ArtifactTypes: List{"application/vnd.cyclonedx+json;version=1.6"}}, ""},
		{"unsupported artifact type", Config{ArtifactTypes: List{ArtifactTypeSPDX, "application/vnd.syft+json"}}, "artifactTypes[1]"},
		{"wildcard", Config{ArtifactTypes: List{"*"}}, "artifactTypes[0]"},
		{"empty license", Config{Settings: Settings{DisallowedLicenses: []string{"MIT", " ( ) "}}}, "disallowedLicenses[1]"},
		{"package without name", Config{Settings: Settings{DisallowedPackages: []Package{{Name: "a"}, {Version: "1"}}}}, "disallowedPackages[1].name"},
		{"both version keys agree", Config{Settings: Settings{DisallowedPackages: []Package{{Name: "a", Version: "1", VersionInfo: "1"}}}}, ""},
		{"both version keys differ", Config{Settings: Settings{DisallowedPackages: []Package{{Name: "a", Version: "1", VersionInfo: "2"}}}}, "disallowedPackages[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg, Options{})
			if c.path == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), c.path+": ") {
				t.Fatalf("New: %v; want an invalid configuration at %s", err, c.path)
			}
		})
	}
}

// TestVerifierIdentity checks the names, the artifact types a verifier
// takes and its nested references.
func TestVerifierIdentity(t *testing.T) {
	v, err := New(Config{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Name() != "sbom" || v.Type() != "sbom" || len(v.NestedReferences()) != 0 {
		t.Errorf("default verifier %q of type %q, nested %q", v.Name(), v.Type(), v.NestedReferences())
	}
	for at, want := range map[string]bool{
		ArtifactTypeSPDX: true, ArtifactTypeCycloneDX: true, "application/vnd.cyclonedx+json; version=1.5": true,
		"application/sarif+json": false, "application/vnd.cncf.notary.signature": false, "": false,
	} {
		if got := v.CanVerify(at); got != want {
			t.Errorf("CanVerify(%q) = %t, want %t", at, got, want)
		}
	}

	nested := []string{"application/vnd.cncf.notary.signature"}
	v, err = New(Config{Name: "sbom-spdx", ArtifactTypes: List{ArtifactTypeSPDX}, NestedReferences: nested}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := v.NestedReferences()
	got[0] = "changed"
	if v.Name() != "sbom-spdx" || v.CanVerify(ArtifactTypeCycloneDX) || !v.CanVerify(ArtifactTypeSPDX) ||
		!slices.Equal(v.NestedReferences(), nested) {
		t.Errorf("configured verifier %q takes CycloneDX %t, SPDX %t, nested %q", v.Name(), v.CanVerify(ArtifactTypeCycloneDX),
			v.CanVerify(ArtifactTypeSPDX), v.NestedReferences())
	}
}

// TestLicenseMatch checks the whole-word matching of disallowed licenses
// in license expressions (SPDX specification v2.3, Annex D).
func TestLicenseMatch(t *testing.T) {
	cases := []struct {
		expression, disallowed string
		want                   bool
	}{
		{"GPL-2.0-only", "GPL-2.0-only", true},
		{"gpl-2.0-only", "GPL-2.0-ONLY", true},
		{"(MIT OR GPL-2.0-only)", "GPL-2.0-only", true},
		{"MIT AND(GPL-2.0-only)", "GPL-2.0-only", true},
		{"LGPL-2.0-only", "GPL-2.0-only", false},
		{"GPL-2.0-only", "GPL-2.0", false},
		{"GPL-2.0+", "GPL-2.0", false},
		{"GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0", true},
		{"GPL-2.0-only   WITH\tClasspath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0", true},
		{"GPL-2.0-only", "GPL-2.0-only WITH Classpath-exception-2.0", false},
		{"MIT OR Apache-2.0", "Apache-2.0 OR MIT", false},
		{"", "MIT", false},
		{"MPL-2.0", "MPL", false},
	}
	for _, c := range cases {
		v := &Verifier{licenses: [][]string{tokens(c.disallowed)}}
		if got := v.disallowedLicense(c.expression); got != c.want {
			t.Errorf("%q in %q: %t, want %t", c.disallowed, c.expression, got, c.want)
		}
	}
}
