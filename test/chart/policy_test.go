package chart

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

// TestRegoPolicy evaluates files/policy.rego (the rego policy the chart
// installs with policy.useRego) on OPA as Ratify v1 does, querying
// data.ratify.policy.valid over result trees of the rego policy's format
// (1.1.0: per artifact, its verifier reports and nested reports).
func TestRegoPolicy(t *testing.T) {
	src := must(os.ReadFile(filepath.Join(chartDir(), "files", "policy.rego")))(t)
	query := must(rego.New(
		rego.Query("data.ratify.policy.valid"),
		rego.Module("policy.rego", string(src)),
	).PrepareForEval(context.Background()))(t)

	report := func(ok bool) string {
		b, _ := json.Marshal(ok)
		return `{"isSuccess": ` + string(b) + `, "verifierName": "notation", "verifierType": "notation"}`
	}
	artifact := func(reports, nested string) string {
		return `{"subject": "registry.example/app@sha256:00", "artifactType": "application/vnd.cncf.notary.signature",
			"verifierReports": [` + reports + `], "nestedReports": [` + nested + `]}`
	}
	for _, tc := range []struct {
		name, input string
		valid       bool
	}{
		{"one signature verified", `{"verifierReports": [` + artifact(report(true), "") + `]}`, true},
		{"two verified, one nested", `{"verifierReports": [` + artifact(report(true), artifact(report(true), "")) + `,` + artifact(report(true), "") + `]}`, true},
		{"no artifact", `{"verifierReports": []}`, false},
		{"artifacts but no verdict", `{"verifierReports": [` + artifact("", "") + `]}`, false},
		{"one of two failed", `{"verifierReports": [` + artifact(report(true), "") + `,` + artifact(report(false), "") + `]}`, false},
		{"a nested report failed", `{"verifierReports": [` + artifact(report(true), artifact(report(false), "")) + `]}`, false},
		{"a verdict that is not a boolean", `{"verifierReports": [` + artifact(report(true)+`, {"isSuccess": "true"}`, "") + `]}`, false},
	} {
		var input any
		if err := json.Unmarshal([]byte(tc.input), &input); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		rs, err := query.Eval(context.Background(), rego.EvalInput(input))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(rs) != 1 || len(rs[0].Expressions) != 1 || rs[0].Expressions[0].Value != tc.valid {
			t.Errorf("%s: valid = %v, want %v", tc.name, rs, tc.valid)
		}
	}
}
