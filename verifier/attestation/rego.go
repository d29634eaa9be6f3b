package attestation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/openratify/ratify/errdef"
)

// RegoQuery is what a predicate's Rego policy must define: true when the
// statement, given as input {"statement": ...}, is acceptable.
const RegoQuery = "data.ratify.attestation.allow"

// DefaultRegoTimeout bounds one evaluation of a Rego policy when
// Options.RegoTimeout is zero.
const DefaultRegoTimeout = 2 * time.Second

// refusedBuiltins are the built-in functions a policy may not call: each
// reaches the network, the file system or the process environment.
var refusedBuiltins = map[string]struct{}{
	"http.send":          {},
	"net.lookup_ip_addr": {},
	"opa.runtime":        {},
	"json.match_schema":  {},
	"json.verify_schema": {},
}

var regoPackage = ast.MustParseRef("data.ratify.attestation")

// regoCheck is a compiled Rego policy of a predicate.
type regoCheck struct {
	query   rego.PreparedEvalQuery
	timeout time.Duration
}

// compileRego parses module (Rego v1, package ratify.attestation),
// refuses calls to refusedBuiltins and a rule allow that can never be a
// boolean, and prepares RegoQuery. Errors wrap errdef.ErrInvalidConfig.
func compileRego(filename, module string, timeout time.Duration) (*regoCheck, error) {
	mod, err := ast.ParseModuleWithOpts(filename, module, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdef.ErrInvalidConfig)
	}
	if !mod.Package.Path.Equal(regoPackage) {
		return nil, fmt.Errorf("%s: the policy's package is %s, not ratify.attestation (the query is %s): %w",
			filename, mod.Package.Path, RegoQuery, errdef.ErrInvalidConfig)
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
		_, refused := refusedBuiltins[b.Name]
		return refused
	})
	caps.AllowNet = []string{}
	c := ast.NewCompiler().
		WithCapabilities(caps).
		WithUnsafeBuiltins(refusedBuiltins).
		WithDefaultRegoVersion(ast.RegoV1).
		WithEnablePrintStatements(false)
	if c.Compile(map[string]*ast.Module{filename: mod}); c.Failed() {
		return nil, fmt.Errorf("%v: %w", c.Errors, errdef.ErrInvalidConfig)
	}
	if t := c.TypeEnv.GetByRef(ast.MustParseRef(RegoQuery)); t != nil && !types.Contains(t, types.B) {
		return nil, fmt.Errorf("%s: rule allow is %s, never a boolean: %w", filename, t, errdef.ErrInvalidConfig)
	}
	// Preparing compiles the fixed query against the compiled module; it
	// reads nothing and cannot block, so it needs no caller's context.
	q, err := rego.New(
		rego.Compiler(c),
		rego.Query(RegoQuery),
		rego.Capabilities(caps),
		rego.UnsafeBuiltins(refusedBuiltins),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", filename, err, errdef.ErrInvalidConfig)
	}
	return &regoCheck{query: q, timeout: timeout}, nil
}

// allow evaluates the policy over input {"statement": st}. A policy that
// answers false, or leaves allow undefined, denies with a reason; an error
// means no answer (the evaluation failed or ran out of time).
func (r *regoCheck) allow(ctx context.Context, st any) (bool, string, error) {
	input, err := ast.InterfaceToValue(map[string]any{"statement": st})
	if err != nil {
		return false, "", fmt.Errorf("rego input: %v: %w", err, errdef.ErrInvalidContent)
	}
	ectx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	rs, err := r.query.Eval(ectx, rego.EvalParsedInput(input))
	if err != nil {
		if ctx.Err() == nil && errors.Is(ectx.Err(), context.DeadlineExceeded) {
			return false, "", fmt.Errorf("rego policy ran longer than %s: %w", r.timeout, errdef.ErrTimeout)
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return false, "", fmt.Errorf("rego policy: %w: %w", errdef.ErrTimeout, ctx.Err())
		}
		if ctx.Err() != nil {
			return false, "", fmt.Errorf("rego policy: %w", ctx.Err())
		}
		return false, "", fmt.Errorf("rego policy: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return false, "the Rego policy's allow is undefined for this statement", nil
	}
	switch v := rs[0].Expressions[0].Value.(type) {
	case bool:
		if !v {
			return false, "the Rego policy denies the statement (allow is false)", nil
		}
		return true, "", nil
	default:
		return false, fmt.Sprintf("the Rego policy's allow is %v, not a boolean", v), nil
	}
}
