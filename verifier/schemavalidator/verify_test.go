package schemavalidator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
)

const validSARIF = `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "trivy"}}}]}`

func TestVerify(t *testing.T) {
	v := sarifVerifier(t, Options{})
	manyRuns := `{"version": "2.1.0", "runs": [` + strings.Repeat(`{},`, 49) + `{}]}`
	tests := []struct {
		name   string
		layers []layer
		want   bool
		reason string // contained in ErrorReason
		errors int    // validation errors listed for the failing layer
		more   int
	}{
		{name: "valid", layers: []layer{{sarifMediaType, []byte(validSARIF)}}, want: true},
		{name: "two valid layers", layers: []layer{{sarifMediaType, []byte(validSARIF)}, {sarifMediaType, []byte(validSARIF)}}, want: true},
		{name: "missing property", layers: []layer{{sarifMediaType, []byte(`{"version": "2.1.0"}`)}},
			reason: "missing property 'runs'", errors: 1},
		{name: "wrong version and tool", layers: []layer{{sarifMediaType, []byte(`{"version": "2.0.0", "runs": [{"tool": 1}]}`)}},
			reason: "at /version", errors: 2},
		{name: "errors bounded", layers: []layer{{sarifMediaType, []byte(manyRuns)}},
			reason: "(and 47 more)", errors: MaxErrorsPerLayer, more: 50 - MaxErrorsPerLayer},
		{name: "one invalid layer of two", layers: []layer{{sarifMediaType, []byte(validSARIF)}, {sarifMediaType, []byte(`[]`)}},
			reason: "got array, want object", errors: 1},
		{name: "not JSON", layers: []layer{{sarifMediaType, []byte(`{"version": `)}}, reason: "not a JSON document"},
		{name: "trailing data", layers: []layer{{sarifMediaType, []byte(validSARIF + `{}`)}}, reason: "not a JSON document"},
		{name: "media type without schema", layers: []layer{{sarifMediaType, []byte(validSARIF)}, {"text/plain", []byte("hello")}},
			reason: "media type not configured for plugin:[text/plain]"},
		{name: "no layers", reason: "no layers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc, f := artifact(t, tt.layers...)
			r, err := v.Verify(context.Background(), subject, desc, f)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("IsSuccess = %v, ErrorReason %q; want %v, %q", r.IsSuccess, r.ErrorReason, tt.want, tt.reason)
			}
			if tt.want {
				for _, l := range layerResults(t, r) {
					if !l.IsSuccess || l.Schema == "" || l.Error != "" {
						t.Errorf("layer %+v", l)
					}
				}
				return
			}
			if r.Remediation == "" || r.Message == "" {
				t.Errorf("failed report without message or remediation: %+v", r)
			}
			if len(tt.layers) == 0 {
				return
			}
			var failed *LayerResult
			for _, l := range layerResults(t, r) {
				if !l.IsSuccess {
					failed = &l
					break
				}
			}
			if failed == nil || len(failed.Errors) != tt.errors || failed.MoreErrors != tt.more {
				t.Fatalf("failed layer %+v, want %d errors and %d more", failed, tt.errors, tt.more)
			}
		})
	}
}

func TestVerifyErrorLocations(t *testing.T) {
	v := sarifVerifier(t, Options{})
	desc, f := artifact(t, layer{sarifMediaType, []byte(`{"version": "2.1.0", "runs": [{"tool": {}}]}`)})
	r, err := v.Verify(context.Background(), subject, desc, f)
	if err != nil {
		t.Fatal(err)
	}
	got := layerResults(t, r)[0].Errors
	want := SchemaError{InstanceLocation: "/runs/0/tool", KeywordLocation: "/properties/runs/items/properties/tool/required",
		Message: "missing property 'driver'"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("errors = %+v, want %+v", got, want)
	}
	// The extensions are what the result JSON carries.
	raw, err := json.Marshal(r.Extensions)
	if err != nil || !strings.Contains(string(raw), `"instanceLocation":"/runs/0/tool"`) {
		t.Errorf("extensions JSON %s, %v", raw, err)
	}
}

// TestVerifyNoVerdict checks what makes Verify return an error (could not
// verify) rather than a report.
func TestVerifyNoVerdict(t *testing.T) {
	v := sarifVerifier(t, Options{MaxDocumentSize: 1024})
	big := `{"version": "2.1.0", "runs": [], "pad": "` + strings.Repeat("x", 2048) + `"}`
	var many []layer
	for i := 0; i <= MaxLayers; i++ {
		many = append(many, layer{sarifMediaType, []byte(validSARIF)})
	}
	tests := []struct {
		name   string
		build  func(t *testing.T) (ocispec.Descriptor, *memFetcher)
		target error
	}{
		{"oversized document", func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			return artifact(t, layer{sarifMediaType, []byte(validSARIF)}, layer{sarifMediaType, []byte(big)})
		}, errdef.ErrSizeExceedsLimit},
		{"document larger than its descriptor says", func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			desc, f := artifact(t, layer{sarifMediaType, []byte(validSARIF)})
			f.content[digest.FromBytes([]byte(validSARIF))] = []byte(big)
			return desc, f
		}, errdef.ErrSizeExceedsLimit},
		{"too many layers", func(t *testing.T) (ocispec.Descriptor, *memFetcher) { return artifact(t, many...) }, errdef.ErrSizeExceedsLimit},
		{"oversized manifest", func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			desc, f := artifact(t, layer{sarifMediaType, []byte(validSARIF)})
			desc.Size = maxManifestSize + 1
			return desc, f
		}, errdef.ErrSizeExceedsLimit},
		{"layer not found", func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			desc, f := artifact(t, layer{sarifMediaType, []byte(validSARIF)})
			delete(f.content, digest.FromBytes([]byte(validSARIF)))
			return desc, f
		}, errdef.ErrNotFound},
		{"manifest not found", func(t *testing.T) (ocispec.Descriptor, *memFetcher) {
			desc, f := artifact(t)
			delete(f.content, desc.Digest)
			return desc, f
		}, errdef.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			desc, f := tt.build(t)
			r, err := v.Verify(context.Background(), subject, desc, f)
			if !errors.Is(err, tt.target) {
				t.Fatalf("Verify = %+v, %v; want error %v", r, err, tt.target)
			}
		})
	}
}

func TestVerifierIdentity(t *testing.T) {
	v, err := New(Config{Name: "sarif", ArtifactTypes: List{sarifArtifactType}, NestedReferences: List{"application/vnd.cncf.notary.signature"},
		Settings: Settings{Schemas: map[string]Schema{sarifMediaType: {Inline: json.RawMessage(sarifSchema)}}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Name() != "sarif" || v.Type() != VerifierType || !v.CanVerify(sarifArtifactType) || v.CanVerify("application/spdx+json") {
		t.Errorf("verifier %s/%s handles the wrong types", v.Name(), v.Type())
	}
	if n := v.NestedReferences(); len(n) != 1 || n[0] != "application/vnd.cncf.notary.signature" {
		t.Errorf("NestedReferences = %q", n)
	}
	desc, f := artifact(t, layer{sarifMediaType, []byte(validSARIF)})
	if r, err := v.Verify(context.Background(), subject, desc, f); err != nil || !r.IsSuccess {
		t.Fatalf("inline schema: %+v, %v", r, err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := sarifVerifier(t, Options{})
	good, gf := artifact(t, layer{sarifMediaType, []byte(validSARIF)})
	bad, bf := artifact(t, layer{sarifMediaType, []byte(`{}`)})
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			desc, f, want := good, gf, true
			if i%2 == 1 {
				desc, f, want = bad, bf, false
			}
			r, err := v.Verify(context.Background(), subject, desc, f)
			if err == nil && r.IsSuccess != want {
				err = fmt.Errorf("IsSuccess = %v, want %v", r.IsSuccess, want)
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
