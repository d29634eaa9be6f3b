// Package sbom verifies software bills of materials attached to a subject
// as OCI artifacts (OCI image-spec v1.1, an image manifest with an
// artifactType and the document as its layer): SPDX 2.x JSON documents
// (SPDX specification v2.3, artifact type application/spdx+json) and
// CycloneDX JSON boms (CycloneDX specification 1.x, artifact type
// application/vnd.cyclonedx+json), against a deny list of licenses and of
// packages.
//
// It is the drop-in for Ratify v1's "sbom" verifier: its Config is that
// verifier's configuration entry, and its reports carry v1's extensions
// (creationInfo, licenseViolations, packageViolations).
package sbom

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// Artifact types of the SBOM formats the verifier reads.
const (
	// ArtifactTypeSPDX is SPDX's JSON media type (SPDX specification v2.3,
	// "SPDX JSON"), what `syft -o spdx-json` writes.
	ArtifactTypeSPDX = "application/spdx+json"
	// ArtifactTypeCycloneDX is CycloneDX's JSON media type.
	ArtifactTypeCycloneDX = "application/vnd.cyclonedx+json"
)

// VerifierType is the verifier type reports carry, as in Ratify v1.
const VerifierType = "sbom"

// DefaultMaxDocumentSize bounds an SBOM document when Options says nothing.
const DefaultMaxDocumentSize = 16 << 20

// Config is Ratify v1's sbom verifier entry of config.json
// (verifier.plugins[] with "name":"sbom"), typed. Its JSON field names are
// v1's.
type Config struct {
	// Name is the instance name reports carry; empty means "sbom".
	Name string `json:"name"`
	// Type is the verifier type; empty or "sbom".
	Type string `json:"type,omitempty"`
	// ArtifactTypes are the artifact types this verifier handles, of
	// ArtifactTypeSPDX and ArtifactTypeCycloneDX (media type parameters
	// allowed); empty means both.
	ArtifactTypes List `json:"artifactTypes,omitempty"`
	// NestedReferences are artifact types whose referrers of the SBOM must
	// themselves be verified (its Notary Project signature).
	NestedReferences List `json:"nestedReferences,omitempty"`

	Settings
}

// Settings are the fields of an sbom verifier entry that are particular to
// it. A config loader that decodes the common fields itself embeds
// Settings.
type Settings struct {
	// DisallowedLicenses are SPDX license identifiers (or expressions) that
	// no package may carry. A package carries one when the identifier
	// appears as a whole word, compared case-insensitively, in its license
	// expression: "GPL-2.0-only" matches "(MIT OR GPL-2.0-only)" but not
	// "LGPL-2.0-only" nor "GPL-2.0-or-later". Every operand counts, "OR"
	// ones included, as in Ratify v1.
	DisallowedLicenses []string `json:"disallowedLicenses,omitempty"`
	// DisallowedPackages are packages that must not be in the SBOM.
	DisallowedPackages []Package `json:"disallowedPackages,omitempty"`
}

// Package names a disallowed package: every version of Name, or only
// Version. Ratify v1 documented the version's key as "version" but read
// "versionInfo" (the SPDX field); both are accepted.
type Package struct {
	Name        string `json:"name"`
	Version     string `json:"version,omitempty"`
	VersionInfo string `json:"versionInfo,omitempty"`
}

// version returns the package's version, under either key.
func (p Package) version() string {
	if p.Version != "" {
		return p.Version
	}
	return p.VersionInfo
}

// List is a list of strings written either as a comma-separated string
// ("a,b", as Ratify v1's artifactTypes) or as a JSON array.
type List []string

// UnmarshalJSON accepts "a, b" and ["a", "b"].
func (l *List) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*l = nil
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*l = append(*l, part)
			}
		}
		return nil
	}
	var items []string
	if err := json.Unmarshal(data, &items); err != nil {
		return errors.New("expected a comma-separated string or an array of strings")
	}
	*l = items
	return nil
}

// Validate checks the configuration. Errors wrap errdef.ErrInvalidConfig
// and name the JSON path of the offending value ("disallowedPackages[1].name").
func (c *Config) Validate() error {
	if c.Type != "" && c.Type != VerifierType {
		return invalid("type", "%q is not %q", c.Type, VerifierType)
	}
	for i, t := range c.ArtifactTypes {
		if _, ok := formatOf(t); !ok {
			return invalid(fmt.Sprintf("artifactTypes[%d]", i), "%q is not an SBOM format this verifier reads (%s, %s)",
				t, ArtifactTypeSPDX, ArtifactTypeCycloneDX)
		}
	}
	return c.Settings.Validate()
}

// Validate checks the settings; errors wrap errdef.ErrInvalidConfig.
func (s *Settings) Validate() error {
	for i, l := range s.DisallowedLicenses {
		if len(tokens(l)) == 0 {
			return invalid(fmt.Sprintf("disallowedLicenses[%d]", i), "empty license")
		}
	}
	for i, p := range s.DisallowedPackages {
		path := fmt.Sprintf("disallowedPackages[%d]", i)
		switch {
		case strings.TrimSpace(p.Name) == "":
			return invalid(path+".name", "a disallowed package needs a name")
		case p.Version != "" && p.VersionInfo != "" && p.Version != p.VersionInfo:
			return invalid(path, "version %q and versionInfo %q differ; give one", p.Version, p.VersionInfo)
		}
	}
	return nil
}

// formatOf returns the SBOM format of an artifact or media type, ignoring
// media type parameters ("application/vnd.cyclonedx+json; version=1.5").
func formatOf(mediaType string) (format, bool) {
	base, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return "", false
	}
	switch base {
	case ArtifactTypeSPDX:
		return spdx, true
	case ArtifactTypeCycloneDX:
		return cycloneDX, true
	}
	return "", false
}

// invalid is a configuration error at a JSON path.
func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", path, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}

// Options are the runtime settings of a Verifier. The zero value works.
type Options struct {
	// MaxDocumentSize bounds the SBOM document (the artifact's layer), as
	// its descriptor states it, before it is fetched; zero means
	// DefaultMaxDocumentSize.
	MaxDocumentSize int64
}

// Verifier checks SBOMs against a deny list of licenses and packages. It is
// a ratify.Verifier and a ratify.NestedVerifier, and is safe for
// concurrent use.
type Verifier struct {
	name          string
	artifactTypes []string
	nested        []string
	licenses      [][]string // disallowed licenses, as lower-case tokens
	licenseNames  []string   // and as configured
	packages      []Package
	maxSize       int64
}

// New builds a verifier from cfg; configuration errors wrap
// errdef.ErrInvalidConfig.
func New(cfg Config, opts Options) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		name:          cfg.Name,
		artifactTypes: slices.Clone(cfg.ArtifactTypes),
		nested:        slices.Clone(cfg.NestedReferences),
		packages:      slices.Clone(cfg.DisallowedPackages),
		maxSize:       opts.MaxDocumentSize,
	}
	for _, l := range cfg.DisallowedLicenses {
		v.licenses = append(v.licenses, tokens(l))
		v.licenseNames = append(v.licenseNames, strings.TrimSpace(l))
	}
	if v.name == "" {
		v.name = VerifierType
	}
	if len(v.artifactTypes) == 0 {
		v.artifactTypes = []string{ArtifactTypeSPDX, ArtifactTypeCycloneDX}
	}
	if v.maxSize <= 0 {
		v.maxSize = DefaultMaxDocumentSize
	}
	return v, nil
}

// Name returns the configured instance name (ratify.Verifier).
func (v *Verifier) Name() string { return v.name }

// Type returns VerifierType (ratify.Verifier).
func (v *Verifier) Type() string { return VerifierType }

// CanVerify reports whether artifactType is one the verifier was
// configured for (ratify.Verifier); by default both SBOM formats.
func (v *Verifier) CanVerify(artifactType string) bool {
	if slices.Contains(v.artifactTypes, artifactType) {
		return true
	}
	f, ok := formatOf(artifactType)
	return ok && slices.ContainsFunc(v.artifactTypes, func(t string) bool {
		g, _ := formatOf(t)
		return g == f
	})
}

// NestedReferences returns the artifact types to verify on an SBOM itself
// (ratify.NestedVerifier).
func (v *Verifier) NestedReferences() []string { return slices.Clone(v.nested) }
