package rego

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/openratify/ratify/errdef"
)

// filename names the module in OPA's error messages ("policy.rego:3: ...").
const filename = "policy.rego"

// refused are the built-in functions a policy may not call: each reaches
// the network, the file system or the process environment.
var refused = map[string]string{
	"http.send":          "makes HTTP requests",
	"net.lookup_ip_addr": "makes DNS queries",
	"opa.runtime":        "reads the process environment",
	"json.match_schema":  "fetches and reads the schemas that \"$ref\" names",
	"json.verify_schema": "fetches and reads the schemas that \"$ref\" names",
}

var packagePath = ast.MustParseRef("data.ratify.policy")

// compile parses text as Rego v0, then as Rego v1 (see the package
// documentation), checks that it defines data.ratify.policy.valid and calls
// no refused built-in, and prepares the query.
func compile(text string) (rego.PreparedEvalQuery, ast.RegoVersion, error) {
	mod, dialect, err := parse(text)
	if err != nil {
		return rego.PreparedEvalQuery{}, 0, err
	}
	if err := checkModule(mod); err != nil {
		return rego.PreparedEvalQuery{}, 0, err
	}
	caps := ast.CapabilitiesForThisVersion(ast.CapabilitiesRegoVersion(dialect))
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
		_, ok := refused[b.Name]
		return ok
	})
	caps.AllowNet = []string{} // no host, should a built-in that honours it remain
	unsafe := make(map[string]struct{}, len(refused))
	for name := range refused {
		unsafe[name] = struct{}{}
	}
	c := ast.NewCompiler().
		WithCapabilities(caps).
		WithUnsafeBuiltins(unsafe).
		WithDefaultRegoVersion(dialect).
		WithEnablePrintStatements(false)
	if c.Compile(map[string]*ast.Module{filename: mod}); c.Failed() {
		return rego.PreparedEvalQuery{}, 0, compileError(c.Errors)
	}
	if t := c.TypeEnv.GetByRef(ast.MustParseRef(Query)); t != nil && !types.Contains(t, types.B) {
		return rego.PreparedEvalQuery{}, 0, fmt.Errorf("rule \"valid\" is %s, never a boolean: %w", t, errdef.ErrInvalidConfig)
	}
	// Preparing compiles the fixed query against the compiled module; it
	// reads nothing and cannot block, so it needs no caller's context.
	q, err := rego.New(
		rego.Compiler(c),
		rego.Query(Query),
		rego.Capabilities(caps),
		rego.UnsafeBuiltins(unsafe),
		rego.SetRegoVersion(dialect),
	).PrepareForEval(context.Background())
	if err != nil {
		return rego.PreparedEvalQuery{}, 0, fmt.Errorf("%v: %w", err, errdef.ErrInvalidConfig)
	}
	return q, dialect, nil
}

// parse parses text as Rego v0, the dialect of Ratify v1, and when that
// fails as Rego v1.
func parse(text string) (*ast.Module, ast.RegoVersion, error) {
	mod, errV0 := ast.ParseModuleWithOpts(filename, text, ast.ParserOptions{RegoVersion: ast.RegoV0})
	if errV0 == nil {
		return mod, ast.RegoV0, nil
	}
	mod, errV1 := ast.ParseModuleWithOpts(filename, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if errV1 == nil {
		return mod, ast.RegoV1, nil
	}
	v0, v1 := firstError(errV0), firstError(errV1)
	if v0 == v1 {
		return nil, 0, fmt.Errorf("%s (as Rego v1 and as Rego v0, the dialect of Ratify v1): %w", v1, errdef.ErrInvalidConfig)
	}
	return nil, 0, fmt.Errorf("not valid Rego v1 (%s) nor Rego v0, the dialect of Ratify v1 (%s): %w", v1, v0, errdef.ErrInvalidConfig)
}

// checkModule checks that the module can answer the query at all.
func checkModule(mod *ast.Module) error {
	if mod == nil { // an empty text parses to no module
		return fmt.Errorf("no Rego module: %w", errdef.ErrInvalidConfig)
	}
	if !mod.Package.Path.Equal(packagePath) {
		return fmt.Errorf("%s: package is %s, must be \"package ratify.policy\" (the query is %s): %w",
			location(mod.Package.Location), strings.TrimPrefix(mod.Package.Path.String(), "data."), Query, errdef.ErrInvalidConfig)
	}
	for _, r := range mod.Rules {
		if ref := r.Head.Ref(); len(ref) > 0 && ref[0].Equal(ast.VarTerm("valid")) {
			return nil
		}
	}
	return fmt.Errorf("no rule \"valid\" (the query is %s; declare \"default valid := false\" and the rules that make it true): %w",
		Query, errdef.ErrInvalidConfig)
}

// compileError reports the compiler's first error, with its line, and says
// why a refused built-in is refused.
func compileError(errs ast.Errors) error {
	msg := firstError(errs)
	for name, why := range refused {
		if strings.Contains(msg, name) {
			return fmt.Errorf("%s (ratify refuses %s: it %s): %w", msg, name, why, errdef.ErrInvalidConfig)
		}
	}
	return fmt.Errorf("%s: %w", msg, errdef.ErrInvalidConfig)
}

// firstError returns the first of OPA's errors in one line, with its file
// and line ("policy.rego:3: rego_parse_error: unexpected } token") and the
// count of the others.
func firstError(err error) string {
	var errs ast.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	e := errs[0]
	msg := fmt.Sprintf("%s: %s: %s", location(e.Location), e.Code, strings.Join(strings.Fields(e.Message), " "))
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	return msg
}

func location(l *ast.Location) string {
	if l == nil || l.Row == 0 {
		return filename
	}
	return fmt.Sprintf("%s:%d", l.File, l.Row)
}
