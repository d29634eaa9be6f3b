package configpolicy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/policy/configpolicy"
)

const (
	sig  = "application/vnd.cncf.notary.signature"
	sbom = "application/spdx+json"
)

func r(t string, ok bool) ratify.Report { return ratify.Report{ArtifactType: t, IsSuccess: ok} }

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		rules   map[string]string
		reports []ratify.Report
		want    bool
	}{
		{"no reports fail", map[string]string{sig: "any"}, nil, false},
		{"no reports fail even without rules", nil, nil, false},
		{"any: one success", map[string]string{sig: "any"}, []ratify.Report{r(sig, false), r(sig, true)}, true},
		{"any: none succeed", map[string]string{sig: "any"}, []ratify.Report{r(sig, false), r(sig, false)}, false},
		{"all: one failure", map[string]string{sig: "all"}, []ratify.Report{r(sig, true), r(sig, false)}, false},
		{"all: every success", map[string]string{sig: "all"}, []ratify.Report{r(sig, true), r(sig, true)}, true},
		{"named type missing", map[string]string{sig: "any", sbom: "all"}, []ratify.Report{r(sig, true)}, false},
		{"default all applies to unnamed", map[string]string{sig: "any", "default": "all"}, []ratify.Report{r(sig, true), r(sbom, false)}, false},
		{"default any applies to unnamed", map[string]string{sig: "any", "default": "any"}, []ratify.Report{r(sig, true), r(sbom, false), r(sbom, true)}, true},
		{"no default means all", map[string]string{sig: "any"}, []ratify.Report{r(sig, true), r(sbom, true), r(sbom, false)}, false},
		{"only default", map[string]string{"default": "any"}, []ratify.Report{r(sig, false), r(sig, true)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := configpolicy.New(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Decide(context.Background(), tt.reports); got != tt.want {
				t.Errorf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecideNestedRequiresOnlyAskedTypes(t *testing.T) {
	p, err := configpolicy.New(map[string]string{sig: "any", sbom: "any"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.DecideNested(context.Background(), []ratify.Report{r(sig, true)}, []string{sig}) {
		t.Error("nested subject with a good signature failed because the top-level sbom rule was applied")
	}
	if p.DecideNested(context.Background(), nil, []string{sig}) {
		t.Error("nested subject without reports passed")
	}
	if p.Decide(context.Background(), []ratify.Report{r(sig, true)}) {
		t.Error("top-level subject passed without its required sbom")
	}
}

func TestNewRejectsUnknownRule(t *testing.T) {
	if _, err := configpolicy.New(map[string]string{sig: "some"}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
}
