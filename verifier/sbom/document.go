package sbom

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// format is an SBOM format the verifier reads.
type format string

const (
	spdx      format = "SPDX"
	cycloneDX format = "CycloneDX"
)

// mediaType returns the format's media type.
func (f format) mediaType() string {
	if f == cycloneDX {
		return ArtifactTypeCycloneDX
	}
	return ArtifactTypeSPDX
}

// CreationInfo says who made an SBOM and when, in the shape of SPDX's
// creationInfo (SPDX specification v2.3, clause 6), which Ratify v1's
// reports carry. A CycloneDX bom's metadata is mapped to it: its timestamp
// to Created, its tools, authors and manufacturer to Creators
// ("Tool: name-version", "Person: name", "Organization: name").
type CreationInfo struct {
	Created            string   `json:"created,omitempty"`
	Creators           []string `json:"creators,omitempty"`
	LicenseListVersion string   `json:"licenseListVersion,omitempty"`
	Comment            string   `json:"comment,omitempty"`
}

// component is one package of an SBOM, as the deny lists see it.
type component struct {
	name, version string
	// license is the package's license expression: SPDX's concluded
	// license, or its declared one when nothing was concluded; the
	// licenses of a CycloneDX component joined with AND.
	license string
}

// document is what the verifier reads of an SBOM.
type document struct {
	creationInfo CreationInfo
	components   []component
}

// parse reads an SBOM of format f. Only the fields the verifier needs are
// decoded (encoding/json skips the others without keeping them), so the
// memory it takes beyond data grows with the number of packages, not with
// the size of the document. An error says why data is not a document of
// the format.
func parse(f format, data []byte) (document, error) {
	if f == cycloneDX {
		return parseCycloneDX(data)
	}
	return parseSPDX(data)
}

// noAssertion reports whether an SPDX license field says nothing: empty,
// NOASSERTION or NONE (SPDX specification v2.3, clauses 7.13 and 7.15).
func noAssertion(license string) bool {
	switch strings.TrimSpace(license) {
	case "", "NOASSERTION", "NONE":
		return true
	}
	return false
}

// spdxDocument is the part of an SPDX 2.x JSON document the verifier reads.
type spdxDocument struct {
	SPDXVersion  *string         `json:"spdxVersion"`
	Context      json.RawMessage `json:"@context"`
	CreationInfo *CreationInfo   `json:"creationInfo"`
	Packages     []struct {
		Name             string `json:"name"`
		VersionInfo      string `json:"versionInfo"`
		LicenseConcluded string `json:"licenseConcluded"`
		LicenseDeclared  string `json:"licenseDeclared"`
	} `json:"packages"`
}

// parseSPDX reads an SPDX 2.x JSON document (SPDX specification v2.3,
// "SPDX JSON"); SPDX 3 (JSON-LD) is not supported.
func parseSPDX(data []byte) (document, error) {
	var d spdxDocument
	if err := json.Unmarshal(data, &d); err != nil {
		return document{}, jsonProblem(err)
	}
	switch {
	case d.SPDXVersion == nil && d.Context != nil:
		return document{}, errors.New("SPDX 3 (JSON-LD) documents are not supported; produce SPDX 2.3 JSON")
	case d.SPDXVersion == nil:
		return document{}, errors.New(`no "spdxVersion": not an SPDX document`)
	case !strings.HasPrefix(*d.SPDXVersion, "SPDX-2."):
		return document{}, fmt.Errorf("spdxVersion %q is not SPDX 2.x", *d.SPDXVersion)
	}
	var doc document
	if d.CreationInfo != nil {
		doc.creationInfo = *d.CreationInfo
	}
	doc.components = make([]component, 0, len(d.Packages))
	for _, p := range d.Packages {
		license := p.LicenseConcluded
		if noAssertion(license) {
			license = p.LicenseDeclared
		}
		if noAssertion(license) {
			license = ""
		}
		doc.components = append(doc.components, component{name: p.Name, version: p.VersionInfo, license: license})
	}
	return doc, nil
}

// jsonProblem describes a JSON decoding error with where it happened.
func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("not valid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "the document"
		}
		return fmt.Errorf("%s is a JSON %s, not %s", where, typ.Value, kindName(typ.Type))
	}
	return err
}

// kindName names the JSON kind that values of t are decoded from.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "an integer"
}
