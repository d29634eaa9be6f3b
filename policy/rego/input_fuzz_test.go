package rego_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/policy/rego"
)

// FuzzInput turns arbitrary reports (decoded from JSON, as a verifier plugin
// or a cache could hand them over) into the policy's input: the conversion
// never fails for reports that are JSON, keeps every top-level report, and
// the result is evaluated without error.
func FuzzInput(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"subject":"r/a@sha256:1","referenceDigest":"sha256:2","artifactType":"t","verifierName":"v","isSuccess":true,
		"extensions":{"n":1.5,"l":[1,"x",null],"o":{"k":false}},
		"nestedResults":[{"subject":"r/a@sha256:2","referenceDigest":"sha256:3","verifierName":"n","isSuccess":false}]}]`))
	f.Add([]byte(`[{"referenceDigest":"d","name":"only-name","type":"only-type"},{"referenceDigest":"d","verifierName":"w"}]`))
	p, err := rego.New(rego.Config{Policy: allValid}, rego.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var reports []ratify.Report
		if len(data) > 1<<16 || json.Unmarshal(data, &reports) != nil {
			return
		}
		v, err := rego.Input(reports)
		if err != nil {
			t.Fatalf("Input: %v", err)
		}
		var doc struct {
			VerifierReports []ratify.ArtifactReport `json:"verifierReports"`
		}
		// Through ast.JSON, not ast.As: As parses the value's Rego text as
		// JSON, and Rego quotes a control character such as DEL as \x7f,
		// which JSON has no escape for (the seeds a0f4... and f423...).
		native, err := ast.JSON(v)
		if err != nil {
			t.Fatalf("input is not JSON: %v", err)
		}
		b, err := json.Marshal(native)
		if err != nil {
			t.Fatalf("input is not JSON: %v", err)
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("input does not decode as the nested format: %v", err)
		}
		if doc.VerifierReports == nil {
			t.Fatal("verifierReports is null, want an array")
		}
		n := 0
		for _, a := range doc.VerifierReports {
			n += len(a.VerifierReports)
			if a.VerifierReports == nil || a.NestedReports == nil {
				t.Fatalf("artifact %q has a null list", a.ReferenceDigest)
			}
		}
		if n != len(reports) {
			t.Fatalf("input holds %d verifier reports, want the %d given", n, len(reports))
		}
		if _, err := p.Evaluate(context.Background(), reports); err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
	})
}
