package schemavalidator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// Config is Ratify v1's schemavalidator verifier entry of config.json
// (verifier.plugins[] with "name":"schemavalidator"), typed. Its JSON field
// names are v1's.
type Config struct {
	// Name is the instance name reports carry; empty means "schemavalidator".
	Name string `json:"name"`
	// Type is the verifier type; empty or "schemavalidator".
	Type string `json:"type,omitempty"`
	// ArtifactTypes are the artifact types whose layers are validated
	// (Trivy's SARIF report, an SBOM). Required: a schema validator that
	// read every artifact would fail every signature.
	ArtifactTypes List `json:"artifactTypes,omitempty"`
	// NestedReferences are artifact types whose referrers of a validated
	// artifact must themselves be verified (its signature).
	NestedReferences List `json:"nestedReferences,omitempty"`

	Settings
}

// Settings are the fields of a schemavalidator entry particular to it. A
// config loader that decodes the common fields itself embeds Settings.
type Settings struct {
	// Schemas maps a layer media type ("application/sarif+json") to the
	// JSON Schema its blobs must satisfy. Every layer of a validated
	// artifact needs a schema, as in v1.
	Schemas map[string]Schema `json:"schemas"`
}

// Schema is a JSON Schema (draft 4, 6, 7, 2019-09 or 2020-12, as its
// "$schema" says; 2020-12 when it says nothing), given as in v1 by a
// "file://" URL, or as a path, or written inline as a JSON object (or
// boolean). Relative paths are relative to Options.BaseDir. Schemas are
// never fetched over the network: an "http://" or "https://" URL, which v1
// fetched at every verification, is refused; download the schema and name
// the file.
type Schema struct {
	// Location is the file:// URL or path the schema was given as; empty
	// for an inline schema.
	Location string
	// Inline is the schema itself when it was written inline.
	Inline json.RawMessage
}

// UnmarshalJSON accepts a string (a file:// URL or a path) or a JSON
// object or boolean (the schema itself).
func (s *Schema) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	*s = Schema{}
	switch {
	case len(data) > 0 && data[0] == '"':
		return json.Unmarshal(data, &s.Location)
	case len(data) > 0 && data[0] == '{', string(data) == "true", string(data) == "false":
		s.Inline = append(json.RawMessage(nil), data...)
		return nil
	}
	return errors.New("expected a file:// URL or path, or an inline JSON Schema object")
}

// MarshalJSON writes the schema back in the form it was given.
func (s Schema) MarshalJSON() ([]byte, error) {
	if s.Inline != nil {
		return s.Inline, nil
	}
	return json.Marshal(s.Location)
}

// String describes where the schema comes from, for reports.
func (s Schema) String() string {
	if s.Inline != nil {
		return "inline"
	}
	return s.Location
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

// Validate checks the configuration without reading any file. Errors wrap
// errdef.ErrInvalidConfig and name the JSON path of the offending value
// ("schemas[application/sarif+json]").
func (c *Config) Validate() error {
	if c.Type != "" && c.Type != VerifierType {
		return invalid("type", "%q is not %q", c.Type, VerifierType)
	}
	if len(c.ArtifactTypes) == 0 {
		return invalid("artifactTypes", "name the artifact types whose layers are validated")
	}
	if slices.Contains(c.ArtifactTypes, "") {
		return invalid("artifactTypes", "an artifact type is empty")
	}
	if len(c.Schemas) == 0 {
		return invalid("schemas", "no schema configured; map each layer media type to a JSON Schema")
	}
	if len(c.Schemas) > MaxSchemas {
		return fmt.Errorf("schemas: %d schemas, more than %d: %w: %w", len(c.Schemas), MaxSchemas, errdef.ErrSizeExceedsLimit, errdef.ErrInvalidConfig)
	}
	for mt, s := range c.Schemas {
		path := fmt.Sprintf("schemas[%s]", mt)
		if strings.TrimSpace(mt) == "" {
			return invalid(path, "the media type is empty")
		}
		if err := s.validate(path); err != nil {
			return err
		}
	}
	return nil
}

// validate checks a schema's form: an inline schema, a path, or a file://
// URL; network URLs are refused.
func (s Schema) validate(path string) error {
	if s.Inline != nil {
		if !json.Valid(s.Inline) {
			return invalid(path, "the inline schema is not valid JSON")
		}
		return nil
	}
	if s.Location == "" {
		return invalid(path, "no schema location")
	}
	scheme, _, found := strings.Cut(s.Location, "://")
	if !found {
		return nil // a path
	}
	switch strings.ToLower(scheme) {
	case "file":
		if _, err := url.Parse(s.Location); err != nil {
			return invalid(path, "%v", err)
		}
		return nil
	case "http", "https":
		return fmt.Errorf("%s: %s: schemas are not fetched over the network; download the schema and give its path as file:///...: %w: %w",
			path, s.Location, errdef.ErrUnsupported, errdef.ErrInvalidConfig)
	}
	return fmt.Errorf("%s: %s: only file:// URLs, paths and inline schemas are supported: %w: %w",
		path, s.Location, errdef.ErrUnsupported, errdef.ErrInvalidConfig)
}

// invalid is a configuration error at a JSON path.
func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", path, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}
