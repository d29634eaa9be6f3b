package schemavalidator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// LayerResult is the validation of one layer: Report.Extensions holds
// "layers" ([]LayerResult).
type LayerResult struct {
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	// Schema is the file or URL of the schema, or "inline"; empty when the
	// media type has none.
	Schema    string `json:"schema,omitempty"`
	IsSuccess bool   `json:"isSuccess"`
	// Error says why the layer could not be validated (not JSON, no
	// schema for its media type), or summarizes the validation errors.
	Error string `json:"error,omitempty"`
	// Errors are the first MaxErrorsPerLayer places where the document
	// breaks the schema; MoreErrors counts the others.
	Errors     []SchemaError `json:"errors,omitempty"`
	MoreErrors int           `json:"moreErrors,omitempty"`
}

// SchemaError is one place where a document breaks its schema.
type SchemaError struct {
	// InstanceLocation is the JSON pointer of the offending value
	// ("/runs/0/tool"); KeywordLocation that of the schema keyword it
	// breaks ("/properties/runs/items/required").
	InstanceLocation string `json:"instanceLocation"`
	KeywordLocation  string `json:"keywordLocation"`
	Message          string `json:"message"`
}

// Verify validates every layer of the artifact, attached to subject,
// against the schema of its media type (ratify.Verifier).
//
// An artifact with no layers, a layer of a media type without a schema, a
// layer that is not JSON or breaks its schema is a Report with IsSuccess
// false and a nil error. An error means no verdict: the manifest or a
// layer could not be read through content, the artifact has more than
// MaxLayers layers or a layer is larger than the document size limit
// (errdef.ErrSizeExceedsLimit), or ctx ended.
func (v *Verifier) Verify(ctx context.Context, subject ratify.Subject, artifact ocispec.Descriptor, content ratify.Fetcher) (ratify.Report, error) {
	if artifact.Size > maxManifestSize {
		return ratify.Report{}, fmt.Errorf("manifest %s is %d bytes, more than %d: %w", artifact.Digest, artifact.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	raw, err := content.Fetch(ctx, artifact)
	if err != nil {
		return ratify.Report{}, fmt.Errorf("fetch manifest %s: %w", artifact.Digest, err)
	}
	layers, problem := manifestLayers(raw)
	if problem != "" {
		return failure("schema validation failed: "+problem, problem, nil), nil
	}
	if len(layers) > MaxLayers {
		return ratify.Report{}, fmt.Errorf("manifest %s has %d layers, more than %d: %w", artifact.Digest, len(layers), MaxLayers, errdef.ErrSizeExceedsLimit)
	}
	var results []LayerResult
	for _, l := range layers {
		if l.Size > v.maxDocument {
			return ratify.Report{}, fmt.Errorf("layer %s is %d bytes, more than %d: %w", l.Digest, l.Size, v.maxDocument, errdef.ErrSizeExceedsLimit)
		}
	}
	for _, l := range layers {
		r, err := v.validateLayer(ctx, l, content)
		if err != nil {
			return ratify.Report{}, err
		}
		results = append(results, r)
	}
	for _, r := range results {
		if !r.IsSuccess {
			return failure(fmt.Sprintf("schema validation failed for digest:[%s],media type:[%s],parse errors:[%s]", r.Digest, r.MediaType, r.Error),
				fmt.Sprintf("layer %s (%s): %s", r.Digest, r.MediaType, r.Error), results), nil
		}
	}
	return ratify.Report{
		IsSuccess:  true,
		Message:    "schema validation passed for configured media types",
		Extensions: map[string]any{"layers": results},
	}, nil
}

// validateLayer fetches one layer and validates it. Only a failure to
// fetch is an error.
func (v *Verifier) validateLayer(ctx context.Context, l ocispec.Descriptor, content ratify.Fetcher) (LayerResult, error) {
	r := LayerResult{Digest: l.Digest, MediaType: l.MediaType}
	sch, ok := v.schemas[l.MediaType]
	if !ok {
		r.Error = fmt.Sprintf("media type not configured for plugin:[%s]", l.MediaType)
		return r, nil
	}
	r.Schema = sch.source
	if l.Digest.Validate() != nil {
		r.Error = fmt.Sprintf("layer digest %q is not valid", l.Digest)
		return r, nil
	}
	blob, err := content.Fetch(ctx, l)
	if err != nil {
		return r, fmt.Errorf("fetch layer %s: %w", l.Digest, err)
	}
	if int64(len(blob)) > v.maxDocument {
		return r, fmt.Errorf("layer %s is %d bytes, more than %d: %w", l.Digest, len(blob), v.maxDocument, errdef.ErrSizeExceedsLimit)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(blob))
	if err != nil {
		r.Error = fmt.Sprintf("the layer is not a JSON document: %v", err)
		return r, nil
	}
	err = sch.schema.Validate(doc)
	var verr *jsonschema.ValidationError
	switch {
	case err == nil:
		r.IsSuccess = true
	case errors.As(err, &verr):
		r.Errors, r.MoreErrors = leafErrors(verr)
		r.Error = summarize(r.Errors, r.MoreErrors)
	default:
		r.Error = err.Error()
	}
	return r, nil
}

// printer renders validation messages.
var printer = message.NewPrinter(language.English)

// leafErrors flattens a validation error tree into its leaves, the
// concrete violations, keeping the first MaxErrorsPerLayer and counting
// the rest.
func leafErrors(root *jsonschema.ValidationError) ([]SchemaError, int) {
	var out []SchemaError
	more := 0
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if len(out) == MaxErrorsPerLayer {
			more++
			return
		}
		out = append(out, SchemaError{
			InstanceLocation: pointer(e.InstanceLocation),
			KeywordLocation:  keywordLocation(e),
			Message:          e.ErrorKind.LocalizedString(printer),
		})
	}
	walk(root)
	if len(out) == 0 { // a failure with no concrete cause
		out = append(out, SchemaError{InstanceLocation: pointer(root.InstanceLocation), Message: root.ErrorKind.LocalizedString(printer)})
	}
	return out, more
}

// keywordLocation is the schema keyword an error breaks: the fragment of
// its schema's URL and the keyword's path.
func keywordLocation(e *jsonschema.ValidationError) string {
	loc := ""
	if _, frag, ok := strings.Cut(e.SchemaURL, "#"); ok {
		loc = frag
	}
	return loc + pointer(e.ErrorKind.KeywordPath())
}

// pointer is a JSON pointer (RFC 6901) of tokens.
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return sb.String()
}

// summarize is one line for a layer's validation errors.
func summarize(errs []SchemaError, more int) string {
	parts := make([]string, 0, min(len(errs), 3))
	for i, e := range errs {
		if i == 3 {
			more += len(errs) - 3
			break
		}
		at := e.InstanceLocation
		if at == "" {
			at = "/"
		}
		parts = append(parts, fmt.Sprintf("at %s: %s", at, e.Message))
	}
	s := strings.Join(parts, "; ")
	if more > 0 {
		s += fmt.Sprintf(" (and %d more)", more)
	}
	return s
}

// mediaTypeDockerManifest is the Docker image manifest v2 schema 2.
const mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

// manifestLayers reads an artifact's manifest and returns its layers. A
// non-empty problem says why raw is not a manifest with layers.
func manifestLayers(raw []byte) ([]ocispec.Descriptor, string) {
	var m struct {
		MediaType string               `json:"mediaType"`
		Layers    []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Sprintf("manifest does not parse: %v", err)
	}
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest, "":
	default:
		return nil, fmt.Sprintf("manifest media type %q is not an OCI image manifest", m.MediaType)
	}
	if len(m.Layers) == 0 {
		return nil, "the artifact has no layers to validate"
	}
	return m.Layers, ""
}

// failure is a report on an artifact that did not validate.
func failure(message, reason string, layers []LayerResult) ratify.Report {
	r := ratify.Report{
		Message:     message,
		ErrorReason: reason,
		Remediation: "attach documents that satisfy the JSON Schema configured for their media type, or configure a schema for every layer media type",
	}
	if layers != nil {
		r.Extensions = map[string]any{"layers": layers}
	}
	return r
}
