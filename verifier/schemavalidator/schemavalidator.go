// Package schemavalidator validates the JSON layers of artifacts attached
// to an image against JSON Schemas: Ratify v1's "schemavalidator"
// verifier (an external plugin in v1, built in here), configured by the
// same "schemas" map from layer media type to schema.
//
// An artifact of one of the configured artifact types (an OCI image
// manifest, OCI image-spec v1.1) passes when it has at least one layer and
// every layer's blob is a JSON document valid against the schema of the
// layer's media type (JSON Schema draft 4 to 2020-12, validated with
// github.com/santhosh-tekuri/jsonschema/v6). A layer of a media type with no
// schema fails the artifact, as in v1.
//
// Schemas are files or inline JSON, read and compiled once when the
// verifier is built; schemas are never fetched over the network, and a
// "$ref" to anything but a local file or a JSON Schema metaschema is
// refused.
package schemavalidator

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// VerifierType is the verifier type reports carry, as in Ratify v1.
const VerifierType = "schemavalidator"

// Limits.
const (
	// MaxSchemas bounds the schemas of one verifier.
	MaxSchemas = 64
	// MaxLayers bounds the layers of one artifact.
	MaxLayers = 64
	// DefaultMaxDocumentSize is the largest layer validated when
	// Options.MaxDocumentSize is zero.
	DefaultMaxDocumentSize = 16 << 20
	// MaxErrorsPerLayer bounds the validation errors a report lists for
	// one layer; the rest are counted.
	MaxErrorsPerLayer = 20
	// maxManifestSize bounds the artifact's manifest (the OCI image-spec's
	// recommended manifest limit).
	maxManifestSize = 4 << 20
)

// Options are the runtime settings of a Verifier. The zero value works.
type Options struct {
	// BaseDir resolves relative schema paths, usually the directory of
	// the configuration file; empty means the working directory.
	BaseDir string
	// MaxDocumentSize bounds each layer, checked against its descriptor
	// before it is fetched; zero means DefaultMaxDocumentSize.
	MaxDocumentSize int64
}

// Verifier validates JSON layers against schemas. It is a ratify.Verifier
// and a ratify.NestedVerifier, and is safe for concurrent use.
type Verifier struct {
	name          string
	artifactTypes []string
	nested        []string
	schemas       map[string]*compiled
	maxDocument   int64
}

// New validates cfg and reads and compiles its schemas. Every problem with
// the configuration wraps errdef.ErrInvalidConfig: a schema that cannot be
// read, is not JSON, is not a valid JSON Schema, or references a remote
// schema (which wraps errdef.ErrUnsupported too).
func New(cfg Config, opts Options) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		name:          cmpOr(cfg.Name, VerifierType),
		artifactTypes: slices.Clone(cfg.ArtifactTypes),
		nested:        slices.Clone(cfg.NestedReferences),
		schemas:       map[string]*compiled{},
		maxDocument:   opts.MaxDocumentSize,
	}
	if v.maxDocument <= 0 {
		v.maxDocument = DefaultMaxDocumentSize
	}
	mediaTypes := slices.Collect(maps.Keys(cfg.Schemas))
	sort.Strings(mediaTypes)
	for i, mt := range mediaTypes {
		c, err := compile(cfg.Schemas[mt], opts.BaseDir, i)
		if err != nil {
			return nil, fmt.Errorf("schemas[%s]: %w", mt, err)
		}
		v.schemas[mt] = c
	}
	return v, nil
}

// Name returns the configured instance name (ratify.Verifier).
func (v *Verifier) Name() string { return v.name }

// Type returns VerifierType (ratify.Verifier).
func (v *Verifier) Type() string { return VerifierType }

// CanVerify reports whether artifactType is one the verifier was
// configured for; "*" matches every type, as in Ratify v1.
func (v *Verifier) CanVerify(artifactType string) bool {
	return slices.Contains(v.artifactTypes, artifactType) || slices.Contains(v.artifactTypes, "*")
}

// NestedReferences returns the artifact types to verify on a validated
// artifact itself (ratify.NestedVerifier).
func (v *Verifier) NestedReferences() []string { return slices.Clone(v.nested) }
