package schemavalidator

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testfiles"
)

func TestConfigDecode(t *testing.T) {
	raw := `{"name": "schemavalidator", "artifactTypes": "application/vnd.aquasecurity.trivy.report.sarif.v1, application/spdx+json",
		"schemas": {"application/sarif+json": "file:///etc/ratify/sarif.json", "application/spdx+json": {"type": "object"}, "text/plain": true}}`
	var c Config
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.ArtifactTypes) != 2 || c.ArtifactTypes[1] != "application/spdx+json" {
		t.Errorf("artifactTypes = %q", c.ArtifactTypes)
	}
	if s := c.Schemas["application/sarif+json"]; s.Location != "file:///etc/ratify/sarif.json" || s.Inline != nil {
		t.Errorf("file schema = %+v", s)
	}
	if s := c.Schemas["application/spdx+json"]; s.Location != "" || string(s.Inline) != `{"type": "object"}` || s.String() != "inline" {
		t.Errorf("inline schema = %+v", s)
	}
	if s := c.Schemas["text/plain"]; string(s.Inline) != "true" {
		t.Errorf("boolean schema = %+v", s)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(c.Settings)
	if err != nil || !strings.Contains(string(out), `"application/spdx+json":{"type":"object"}`) {
		t.Errorf("Marshal = %s, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"schemas": {"a": 12}}`), &c); err == nil {
		t.Error("a number was accepted as a schema")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		return Config{ArtifactTypes: List{sarifArtifactType}, Settings: Settings{Schemas: map[string]Schema{sarifMediaType: {Location: "sarif.json"}}}}
	}
	tests := []struct {
		name   string
		mod    func(*Config)
		path   string
		target error
	}{
		{"path", func(*Config) {}, "", nil},
		{"file URL", func(c *Config) { c.Schemas[sarifMediaType] = Schema{Location: "file:///schemas/sarif.json"} }, "", nil},
		{"inline", func(c *Config) { c.Schemas[sarifMediaType] = Schema{Inline: json.RawMessage(`{}`)} }, "", nil},
		{"other type", func(c *Config) { c.Type = "notation" }, "type", errdef.ErrInvalidConfig},
		{"no artifact types", func(c *Config) { c.ArtifactTypes = nil }, "artifactTypes", errdef.ErrInvalidConfig},
		{"empty artifact type", func(c *Config) { c.ArtifactTypes = List{""} }, "artifactTypes", errdef.ErrInvalidConfig},
		{"no schemas", func(c *Config) { c.Schemas = nil }, "schemas", errdef.ErrInvalidConfig},
		{"empty media type", func(c *Config) { c.Schemas[" "] = Schema{Location: "x.json"} }, "schemas[ ]", errdef.ErrInvalidConfig},
		{"no location", func(c *Config) { c.Schemas[sarifMediaType] = Schema{} }, "schemas[application/sarif+json]", errdef.ErrInvalidConfig},
		{"https URL", func(c *Config) { c.Schemas[sarifMediaType] = Schema{Location: "https://json.example/sarif-2.1.0.json"} },
			"schemas[application/sarif+json]", errdef.ErrUnsupported},
		{"http URL is a config error too", func(c *Config) { c.Schemas[sarifMediaType] = Schema{Location: "HTTP://json.example/sarif.json"} },
			"schemas[application/sarif+json]", errdef.ErrInvalidConfig},
		{"other scheme", func(c *Config) { c.Schemas[sarifMediaType] = Schema{Location: "ftp://json.example/sarif.json"} },
			"schemas[application/sarif+json]", errdef.ErrUnsupported},
		{"inline not JSON", func(c *Config) { c.Schemas[sarifMediaType] = Schema{Inline: json.RawMessage(`{`)} },
			"schemas[application/sarif+json]", errdef.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mod(&c)
			err := c.Validate()
			if tt.target == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.target) || !strings.HasPrefix(err.Error(), tt.path+":") {
				t.Fatalf("Validate = %v, want %v at %q", err, tt.target, tt.path)
			}
		})
	}
}

// TestNewSchemas checks how schemas are read and compiled when the
// verifier is built: never from the network.
func TestNewSchemas(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "sarif.json", sarifSchema)
	writeFile(t, dir, "notjson.json", "{")
	writeFile(t, dir, "badschema.json", `{"type": 12}`)
	writeFile(t, dir, "defs.json", `{"$defs": {"version": {"const": "2.1.0"}}}`)
	writeFile(t, dir, "localref.json", `{"properties": {"version": {"$ref": "defs.json#/$defs/version"}}}`)
	writeFile(t, dir, "remoteref.json", `{"properties": {"version": {"$ref": "https://schemas.example/defs.json#/version"}}}`)
	writeFile(t, dir, "remotemeta.json", `{"$schema": "https://schemas.example/meta", "type": "object"}`)
	writeFile(t, dir, "meta.json", `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}`)
	writeFile(t, dir, "piperef.json", `{"properties": {"version": {"$ref": "pipe.json"}}}`)
	testfiles.Pipe(t, dir, "pipe.json")
	testfiles.Sized(t, dir, "big.json", maxSchemaFileSize+1)
	tests := []struct {
		name    string
		schema  Schema
		baseDir string
		target  error // nil: builds
		unsup   bool  // the error wraps errdef.ErrUnsupported too
	}{
		{"absolute path", Schema{Location: filepath.Join(dir, "sarif.json")}, "", nil, false},
		{"file URL", Schema{Location: "file://" + filepath.Join(dir, "sarif.json")}, "", nil, false},
		{"relative path", Schema{Location: "sarif.json"}, dir, nil, false},
		{"relative file URL, as v1 users wrote it", Schema{Location: "file://sarif.json"}, dir, nil, false},
		{"local $ref", Schema{Location: "localref.json"}, dir, nil, false},
		{"inline with local $ref", Schema{Inline: json.RawMessage(`{"$ref": "defs.json#/$defs/version"}`)}, dir, nil, false},
		{"metaschema named by URL", Schema{Location: "meta.json"}, dir, nil, false},
		{"missing file", Schema{Location: "absent.json"}, dir, errdef.ErrInvalidConfig, false},
		{"not JSON", Schema{Location: "notjson.json"}, dir, errdef.ErrInvalidConfig, false},
		{"a pipe", Schema{Location: "pipe.json"}, dir, errdef.ErrInvalidConfig, false},
		{"$ref to a pipe", Schema{Location: "piperef.json"}, dir, errdef.ErrInvalidConfig, false},
		{"over the limit", Schema{Location: "big.json"}, dir, errdef.ErrInvalidConfig, false},
		{"not a valid schema", Schema{Location: "badschema.json"}, dir, errdef.ErrInvalidConfig, false},
		{"inline not a valid schema", Schema{Inline: json.RawMessage(`{"minimum": "zero"}`)}, dir, errdef.ErrInvalidConfig, false},
		{"remote $ref", Schema{Location: "remoteref.json"}, dir, errdef.ErrInvalidConfig, true},
		{"inline remote $ref", Schema{Inline: json.RawMessage(`{"$ref": "http://schemas.example/x.json"}`)}, dir, errdef.ErrInvalidConfig, true},
		{"remote metaschema", Schema{Location: "remotemeta.json"}, dir, errdef.ErrInvalidConfig, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{ArtifactTypes: List{sarifArtifactType}, Settings: Settings{Schemas: map[string]Schema{sarifMediaType: tt.schema}}},
				Options{BaseDir: tt.baseDir})
			if tt.target == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.target) || errors.Is(err, errdef.ErrUnsupported) != tt.unsup {
				t.Fatalf("New = %v, want %v (unsupported: %v)", err, tt.target, tt.unsup)
			}
			if !strings.HasPrefix(err.Error(), "schemas[application/sarif+json]: ") {
				t.Errorf("error %q does not name the schema", err)
			}
		})
	}
}
