package threshold_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/policy/threshold"
)

const (
	sigType  = "application/vnd.cncf.notary.signature"
	sbomType = "application/spdx+json"
)

func report(verifier, artifactType string, ok bool, nested ...ratify.Report) ratify.Report {
	return ratify.Report{VerifierName: verifier, Name: verifier, ArtifactType: artifactType, IsSuccess: ok, NestedResults: nested}
}

func mustParse(t *testing.T, js string, opts threshold.Options) *threshold.Policy {
	t.Helper()
	cfg, err := threshold.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	p, err := threshold.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Two of three signers: every combination of the three verifiers having a
// successful report, with a failed report of each of the others (a
// signature the verifier does not trust) and one of a verifier no rule names.
func TestTwoOfThree(t *testing.T) {
	p := mustParse(t, `{"name":"thresholdPolicy","threshold":2,"rules":[
		{"verifierName":"notation-a"},{"verifierName":"notation-b"},{"verifierName":"cosign"}]}`, threshold.Options{})
	names := []string{"notation-a", "notation-b", "cosign"}
	for mask := range 8 {
		var reports []ratify.Report
		var good []string
		for i, n := range names {
			ok := mask&(1<<i) != 0
			reports = append(reports, report(n, sigType, ok))
			if ok {
				good = append(good, n)
			}
		}
		reports = append(reports, report("unnamed", sigType, true))
		want := len(good) >= 2
		t.Run(fmt.Sprintf("good=%v", good), func(t *testing.T) {
			if got := p.Decide(context.Background(), reports); got != want {
				t.Errorf("Decide = %v, want %v", got, want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	const twoOfThree = `{"threshold":2,"rules":[{"verifierName":"a"},{"verifierName":"b"},{"verifierName":"c"}]}`
	const allOf = `{"rules":[{"verifierName":"a"},{"verifierName":"b"}]}`
	// a, and either b or both c and d.
	const groups = `{"rules":[{"verifierName":"a"},
		{"threshold":1,"rules":[{"verifierName":"b"},{"rules":[{"verifierName":"c"},{"verifierName":"d"}]}]}]}`
	const sbomSigner = `{"rules":[{"verifierName":"a"},{"verifierName":"b","nested":true}]}`
	sig := func(v string, ok bool) ratify.Report { return report(v, sigType, ok) }
	tests := []struct {
		name    string
		policy  string
		reports []ratify.Report
		want    bool
	}{
		{"no reports", twoOfThree, nil, false},
		{"two signatures by one verifier count once", twoOfThree, []ratify.Report{sig("a", true), sig("a", true)}, false},
		{"a failure does not veto", twoOfThree, []ratify.Report{sig("a", true), sig("b", false), sig("c", true)}, true},
		{"all: both", allOf, []ratify.Report{sig("a", true), sig("b", true)}, true},
		{"all: one missing", allOf, []ratify.Report{sig("a", true)}, false},
		{"all: one failed", allOf, []ratify.Report{sig("a", true), sig("b", false)}, false},
		{"groups: a and b", groups, []ratify.Report{sig("a", true), sig("b", true)}, true},
		{"groups: a, c and d", groups, []ratify.Report{sig("a", true), sig("c", true), sig("d", true)}, true},
		{"groups: a and c only", groups, []ratify.Report{sig("a", true), sig("c", true)}, false},
		{"groups: b, c and d without a", groups, []ratify.Report{sig("b", true), sig("c", true), sig("d", true)}, false},
		{"nested signature does not count by default", twoOfThree,
			[]ratify.Report{sig("a", true), report("sbom", sbomType, true, sig("b", true))}, false},
		{"nested: true counts a signature on the SBOM", sbomSigner,
			[]ratify.Report{sig("a", true), report("sbom", sbomType, true, sig("b", true))}, true},
		{"nested: true counts the subject's own signature", sbomSigner,
			[]ratify.Report{sig("a", true), sig("b", true)}, true},
		{"nested: true, deeper", sbomSigner,
			[]ratify.Report{sig("a", true), report("sbom", sbomType, true, report("x", "t", true, sig("b", true)))}, true},
		{"nested: true, not below a failed artifact", sbomSigner,
			[]ratify.Report{sig("a", true), report("sbom", sbomType, false, sig("b", true))}, false},
		{"nested: true, a failed nested signature", sbomSigner,
			[]ratify.Report{sig("a", true), report("sbom", sbomType, true, sig("b", false))}, false},
		{"older reports carry only name", allOf,
			[]ratify.Report{{Name: "a", IsSuccess: true}, {Name: "b", IsSuccess: true}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.policy, threshold.Options{})
			if got := p.Decide(context.Background(), tt.reports); got != tt.want {
				t.Errorf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecideNested(t *testing.T) {
	p := mustParse(t, `{"rules":[{"verifierName":"sbom"}]}`, threshold.Options{})
	tests := []struct {
		name    string
		reports []ratify.Report
		types   []string
		want    bool
	}{
		{"asked type verified", []ratify.Report{report("notation", sigType, false), report("notation", sigType, true)}, []string{sigType}, true},
		{"asked type failed", []ratify.Report{report("notation", sigType, false)}, []string{sigType}, false},
		{"asked type absent", nil, []string{sigType}, false},
		{"one of two asked types absent", []ratify.Report{report("notation", sigType, true)}, []string{sigType, sbomType}, false},
		{"the rules are not applied", []ratify.Report{report("notation", sigType, true)}, []string{sigType}, true},
		{"nothing asked: one success", []ratify.Report{report("x", "t", true)}, nil, true},
		{"nothing asked: none", []ratify.Report{report("x", "t", false)}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.DecideNested(context.Background(), tt.reports, tt.types); got != tt.want {
				t.Errorf("DecideNested = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := threshold.ParseConfig([]byte(`{"name":"thresholdPolicy","threshold":2,"rules":[
		{"verifierName":"a"},{"VerifierName":"b","nested":true},{"threshold":1,"rules":[{"verifierName":"c"},{"verifierName":"d"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	two, one := 2, 1
	want := threshold.Config{Name: "thresholdPolicy", Threshold: &two, Rules: []threshold.Rule{
		{VerifierName: "a"}, {VerifierName: "b", Nested: true},
		{Threshold: &one, Rules: []threshold.Rule{{VerifierName: "c"}, {VerifierName: "d"}}},
	}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ParseConfig = %+v, want %+v", cfg, want)
	}
}

func TestInvalidConfig(t *testing.T) {
	deep := `{"verifierName":"x"}`
	for range threshold.MaxDepth {
		deep = `{"rules":[` + deep + `]}`
	}
	many := strings.Repeat(`{"rules":[{"verifierName":"x"}]},`, threshold.MaxRules/2) + `{"verifierName":"y"}`
	tests := []struct {
		name, config, path, says string
	}{
		{"not an object", `[]`, "thresholdPolicy", "expected an object"},
		{"unknown top-level field", `{"rules":[{"verifierName":"a"}],"treshold":1}`, "treshold", "unknown field"},
		{"unknown rule field", `{"rules":[{"verifierName":"a"},{"rules":[{"verifier":"b"}]}]}`, "rules[1].rules[0].verifier", "unknown field"},
		{"wrong type", `{"rules":[{"verifierName":1}]}`, "rules[0].verifierName", "expected a string"},
		{"threshold not an integer", `{"rules":[{"verifierName":"a"}],"threshold":1.5}`, "threshold", "expected an integer"},
		{"rules not an array", `{"rules":{"verifierName":"a"}}`, "rules", "expected an array"},
		{"other name", `{"name":"configPolicy","rules":[{"verifierName":"a"}]}`, "name", "thresholdPolicy"},
		{"no rules", `{"name":"thresholdPolicy"}`, "rules", "no rules"},
		{"empty rules", `{"rules":[]}`, "rules", "no rules"},
		{"empty nested rules", `{"rules":[{"rules":[]}]}`, "rules[0].rules", "no rules"},
		{"threshold zero", `{"rules":[{"verifierName":"a"}],"threshold":0}`, "threshold", "between 1 and"},
		{"threshold above the rules", `{"rules":[{"verifierName":"a"},{"verifierName":"b"}],"threshold":3}`, "threshold", "between 1 and"},
		{"nested threshold negative", `{"rules":[{"rules":[{"verifierName":"a"}],"threshold":-1}]}`, "rules[0].threshold", "between 1 and"},
		{"both kinds", `{"rules":[{"verifierName":"a","rules":[{"verifierName":"b"}]}]}`, "rules[0]", "not both"},
		{"neither kind", `{"rules":[{"nested":true}]}`, "rules[0]", "needs verifierName"},
		{"threshold on a verifier rule", `{"rules":[{"verifierName":"a","threshold":1}]}`, "rules[0].threshold", "only a rule with rules"},
		{"nested on a group", `{"rules":[{"rules":[{"verifierName":"a"}],"nested":true}]}`, "rules[0].nested", "only a rule with verifierName"},
		{"duplicate verifier", `{"threshold":2,"rules":[{"verifierName":"a"},{"verifierName":"b"},{"verifierName":"a","nested":true}]}`, "rules[2].verifierName", "count twice"},
		{"space in name", `{"rules":[{"verifierName":"a "}]}`, "rules[0].verifierName", "space"},
		{"too deep", `{"rules":[` + deep + `]}`, strings.Repeat("rules[0].", threshold.MaxDepth) + "rules", "levels deep"},
		{"too many", `{"rules":[` + many + `]}`, "rules[", "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := threshold.ParseConfig([]byte(tt.config))
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("ParseConfig = %v, want ErrInvalidConfig", err)
			}
			if !strings.HasPrefix(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not start with %q and say %q", err, tt.path, tt.says)
			}
		})
	}
}

// Validate and New check a Config built in Go (or decoded by the config
// package) as ParseConfig does.
func TestValidateStruct(t *testing.T) {
	zero := 0
	err := threshold.Config{Rules: []threshold.Rule{{VerifierName: "a"}}, Threshold: &zero}.Validate()
	if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), "threshold:") {
		t.Errorf("Validate = %v", err)
	}
	if _, err := threshold.New(threshold.Config{}, threshold.Options{}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("New(empty) = %v, want ErrInvalidConfig", err)
	}
}

func TestUnknownVerifierName(t *testing.T) {
	cfg, err := threshold.ParseConfig([]byte(`{"rules":[{"verifierName":"a"},{"rules":[{"verifierName":"nottation"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = threshold.New(cfg, threshold.Options{VerifierNames: []string{"a", "notation"}})
	if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), "rules[1].rules[0].verifierName:") ||
		!strings.Contains(err.Error(), "notation") {
		t.Errorf("New = %v, want an ErrInvalidConfig naming rules[1].rules[0].verifierName and the configured names", err)
	}
	if _, err := threshold.New(cfg, threshold.Options{}); err != nil {
		t.Errorf("New without VerifierNames = %v", err)
	}
}
