package schemavalidator

import (
	"bytes"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
)

// maxSchemaFileSize bounds a schema file, and each file it references.
const maxSchemaFileSize = 4 << 20

// compiled is a schema ready to validate documents with.
type compiled struct {
	// source describes where the schema came from, for reports.
	source string
	schema *jsonschema.Schema
}

// compile reads and compiles s (JSON Schema, any draft the library knows,
// checked against its metaschema). The schema's own "$ref"s may name
// other files (relative to the schema's file, or to baseDir for an inline
// schema) and the JSON Schema metaschemas; any other URL is refused, so
// compiling never touches the network. index numbers inline schemas.
func compile(s Schema, baseDir string, index int) (*compiled, error) {
	base, err := filepath.Abs(cmpOr(baseDir, "."))
	if err != nil {
		return nil, fmt.Errorf("base directory: %v: %w", err, errdef.ErrInvalidConfig)
	}
	loader := &fileLoader{}
	c := jsonschema.NewCompiler()
	c.UseLoader(loader)
	var loc string
	if s.Inline != nil {
		loc = fileURL(filepath.Join(base, fmt.Sprintf("inline-schema-%d.json", index)))
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.Inline))
		if err != nil {
			return nil, fmt.Errorf("inline schema: %v: %w", err, errdef.ErrInvalidConfig)
		}
		if err := c.AddResource(loc, doc); err != nil {
			return nil, fmt.Errorf("inline schema: %v: %w", err, errdef.ErrInvalidConfig)
		}
	} else {
		path := schemaPath(s.Location)
		if !filepath.IsAbs(path) {
			path = filepath.Join(base, path)
		}
		loc = fileURL(path)
	}
	sch, err := c.Compile(loc)
	if refused := loader.refusedURL(); refused != "" {
		return nil, fmt.Errorf("schema %s: $ref %s refused: schemas and the schemas they reference are never fetched over the network; "+
			"download it and reference the file: %w: %w", s, refused, errdef.ErrUnsupported, errdef.ErrInvalidConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("schema %s: %v: %w", s, err, errdef.ErrInvalidConfig)
	}
	return &compiled{source: s.String(), schema: sch}, nil
}

// schemaPath turns a schema location (a file:// URL or a path) into a path.
func schemaPath(loc string) string {
	rest, ok := cutPrefixFold(loc, "file://")
	if !ok {
		return loc
	}
	if u, err := url.Parse("file://" + rest); err == nil && (u.Host == "" || u.Host == "localhost") {
		return filepath.FromSlash(u.Path)
	}
	// "file://relative/path", as v1 users sometimes wrote it.
	return filepath.FromSlash(rest)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// fileURL is the file:// URL of an absolute path.
func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// fileLoader loads the schema files a compilation needs, each within
// maxSchemaFileSize, and refuses every URL that is not a file, recording
// the first it refused (the library does not keep the loader's error).
type fileLoader struct {
	mu      sync.Mutex
	refused string
}

// Load reads the JSON document of a file:// URL (jsonschema.URLLoader).
func (l *fileLoader) Load(u string) (any, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	if parsed.Scheme != "file" || (parsed.Host != "" && parsed.Host != "localhost") {
		l.mu.Lock()
		if l.refused == "" {
			l.refused = u
		}
		l.mu.Unlock()
		return nil, fmt.Errorf("%s is not a local file; remote schemas are refused", u)
	}
	data, err := limitedfile.Read(filepath.FromSlash(parsed.Path), maxSchemaFileSize)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(data))
}

func (l *fileLoader) refusedURL() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

func cmpOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
