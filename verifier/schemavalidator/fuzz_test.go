package schemavalidator

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzVerifyDocument feeds arbitrary layer bytes through a whole
// verification: the content was read, so the verifier must answer with a
// report (a failed one unless the bytes are a valid document), never an
// error or a panic, and a failed report names its reason.
func FuzzVerifyDocument(f *testing.F) {
	f.Add([]byte(validSARIF))
	f.Add([]byte(`{"version": "2.0.0", "runs": [{"tool": 1}, {}]}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`))
	f.Add([]byte("\xff\xfe{}"))
	f.Add([]byte(`{"version": 1e999999}`))
	v := sarifVerifier(f, Options{})
	f.Fuzz(func(t *testing.T, doc []byte) {
		desc, fetcher := artifact(t, layer{sarifMediaType, doc})
		r, err := v.Verify(context.Background(), subject, desc, fetcher)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if !r.IsSuccess && r.ErrorReason == "" {
			t.Fatalf("failed report without a reason: %+v", r)
		}
		if r.IsSuccess && !json.Valid(doc) {
			t.Fatalf("passed a document that is not JSON: %q", doc)
		}
		if l := layerResults(t, r)[0]; len(l.Errors) > MaxErrorsPerLayer {
			t.Fatalf("%d errors listed", len(l.Errors))
		}
	})
}

// FuzzConfig decodes arbitrary verifier entries: decoding and validation
// never panic, and a valid configuration names no network schema.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"name":"schemavalidator","artifactTypes":"a,b","schemas":{"application/sarif+json":"file:///x.json"}}`))
	f.Add([]byte(`{"artifactTypes":["a"],"schemas":{"m":{"type":"object"},"n":true,"o":"https://x/y"}}`))
	f.Add([]byte(`{"schemas":{"":"x"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c Config
		if json.Unmarshal(raw, &c) != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		for _, s := range c.Schemas {
			scheme, _, found := strings.Cut(s.Location, "://")
			if s.Inline == nil && found && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
				t.Fatalf("accepted network schema %q", s.Location)
			}
		}
	})
}
