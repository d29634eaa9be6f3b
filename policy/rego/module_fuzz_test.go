package rego_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/policy/rego"
)

// FuzzModule compiles arbitrary Rego modules (regoPolicy's "policy", a
// Policy resource's parameters) and evaluates what compiles over a pass
// and a failure. Compilation never panics and its refusals wrap
// errdef.ErrInvalidConfig; a module that calls out (http.send,
// net.lookup_ip_addr, opa.runtime) never compiles; evaluation is bounded
// and answers a boolean or an error, never a pass by default.
func FuzzModule(f *testing.F) {
	for _, m := range []string{
		"package ratify.policy\nvalid := true",
		"package ratify.policy\ndefault valid := false\nvalid if { count(input.verifierReports) > 0 }",
		"package ratify.policy\nvalid { http.send({\"method\":\"get\",\"url\":\"http://169.254.169.254/\"}) }",
		"package ratify.policy\nvalid := net.lookup_ip_addr(\"metadata.internal\")",
		"package ratify.policy\nvalid := opa.runtime().env.HOME != \"\"",
		"package ratify.policy\nvalid if { x := numbers.range(1, 100000000); count(x) > 0 }",
		"package ratify.policy\nvalid := 1",
		"package other\nvalid := true",
		"package ratify.policy\nvalid := true\nvalid := false",
	} {
		f.Add(m)
	}
	reports := []ratify.Report{
		{Subject: "r/a@sha256:1", ReferenceDigest: "sha256:2", ArtifactType: "application/vnd.cncf.notary.signature", VerifierName: "notation", IsSuccess: true},
		{Subject: "r/a@sha256:1", ReferenceDigest: "sha256:3", ArtifactType: "application/spdx+json", VerifierName: "sbom", IsSuccess: false},
	}
	f.Fuzz(func(t *testing.T, module string) {
		p, err := rego.New(rego.Config{Policy: module}, rego.Options{Timeout: 200 * time.Millisecond})
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("New: %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		for _, b := range []string{"http.send", "net.lookup_ip_addr", "opa.runtime"} {
			if strings.Contains(module, b) && !strings.Contains(module, "#") && !strings.Contains(module, "`") && !strings.Contains(module, `"`+b) {
				t.Fatalf("a module calling %s compiled:\n%s", b, module)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, rs := range [][]ratify.Report{reports, nil} {
			if _, err := p.Evaluate(ctx, rs); err != nil && ctx.Err() != nil {
				t.Fatalf("evaluation ran past its bound: %v", err)
			}
		}
	})
}
