// Package rego is Ratify v1's "regoPolicy": an Open Policy Agent Rego module,
// evaluated in-process, decides whether the reports on a subject let it pass.
//
// The query is data.ratify.policy.valid: the module declares
// "package ratify.policy" and a boolean rule "valid". Its input is Ratify v1's
// nested report tree (result format 1.1.0, see ratify.NestedResult):
//
//	{"verifierReports": [
//	  {"subject": "...", "referenceDigest": "sha256:...", "artifactType": "...",
//	   "verifierReports": [{"isSuccess": true, "message": "...", "name": "...",
//	                        "verifierName": "...", "type": "...", "verifierType": "...",
//	                        "errorReason": "...", "remediation": "...", "extensions": {...}}],
//	   "nestedReports": [ ...entries of the same shape... ]}
//	]}
//
// one entry per artifact attached to the subject, whatever the number of
// verifiers that looked at it.
//
// # Rego dialect
//
// Ratify v1 evaluated policies with OPA's Rego v0 dialect, the one its
// documentation's examples are written in ("valid { ... }"); OPA 1.0 made v1
// the default ("valid if { ... }", "deny contains msg if"). A module is
// parsed as Rego v0 first, so that every policy Ratify v1 accepted means here
// what it meant there (v0 modules may "import rego.v1" or
// "import future.keywords" to use the newer keywords), and, when it is not
// valid v0, as Rego v1. A module valid in neither is a configuration error
// that names the line of each dialect's first objection.
//
// # Sandbox
//
// A policy must not make ratify reach out. Built-in functions that touch the
// network, the file system or the process are refused when the module is
// compiled: http.send, net.lookup_ip_addr, opa.runtime, and the JSON Schema
// functions json.match_schema and json.verify_schema (their schemas'
// "$ref"s are fetched over HTTP or read from files). print output is
// discarded. Each evaluation runs under the caller's deadline and at most
// Options.Timeout; an evaluation cut short is an error wrapping
// errdef.ErrTimeout, never a pass.
//
// # Passthrough
//
// With passthroughEnabled, as in Ratify v1, the policy does not decide: every
// subject's isSuccess is false and the reports are returned for Gatekeeper's
// ConstraintTemplate to judge (a template that denies on isSuccess false must
// then be replaced by one that reads the reports). The module is still
// required and compiled, as Ratify v1 did.
package rego

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
)

// Name is the policy's name in config.json's policy.plugin.name.
const Name = "regoPolicy"

// Query is the rule every policy must define.
const Query = "data.ratify.policy.valid"

// Limits.
const (
	// MaxPolicySize bounds the text of a module, inline or read from policyPath.
	MaxPolicySize = 1 << 20
	// DefaultTimeout bounds one evaluation when Options.Timeout is zero.
	DefaultTimeout = time.Second
)

// Config is the policy plugin section of config.json (and the parameters of
// the Policy CRD of type rego-policy), with Ratify v1's field names:
//
//	{"name": "regoPolicy", "policy": "package ratify.policy\n...", "passthroughEnabled": false}
//	{"name": "regoPolicy", "policyPath": "/etc/ratify/policy.rego"}
type Config struct {
	// Name is "regoPolicy"; empty is accepted for callers that select the
	// policy by other means.
	Name string `json:"name"`
	// Policy is the text of the Rego module.
	Policy string `json:"policy"`
	// PolicyPath is a file holding the Rego module, read once by New.
	PolicyPath string `json:"policyPath"`
	// PassthroughEnabled leaves the decision to Gatekeeper: every result
	// has isSuccess false (see the package documentation).
	PassthroughEnabled bool `json:"passthroughEnabled"`
}

// Validate checks the configuration without reading files. Errors wrap
// errdef.ErrInvalidConfig and name the field ("policyPath").
func (c Config) Validate() error {
	if c.Name != "" && c.Name != Name {
		return invalid("name", "%q is not %q", c.Name, Name)
	}
	switch {
	case c.Policy != "" && c.PolicyPath != "":
		return invalid("policy", "set together with policyPath; give one of them")
	case c.Policy == "" && c.PolicyPath == "":
		return invalid("policy", "missing: give the Rego module in policy, or a file holding it in policyPath")
	case c.PolicyPath == "" && strings.TrimSpace(c.Policy) == "":
		return invalid("policy", "is blank")
	case len(c.Policy) > MaxPolicySize:
		return invalid("policy", "is %d bytes, more than %d", len(c.Policy), MaxPolicySize)
	}
	return nil
}

// Options tune a Policy. The zero value works.
type Options struct {
	// Timeout bounds one evaluation, within the deadline of the caller's
	// context. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Policy is a compiled Rego policy. It is safe for concurrent use.
type Policy struct {
	query       rego.PreparedEvalQuery
	dialect     ast.RegoVersion
	passthrough bool
	timeout     time.Duration
}

var (
	_ ratify.Policy           = (*Policy)(nil)
	_ ratify.NestedPolicy     = (*Policy)(nil)
	_ ratify.EvaluatingPolicy = (*Policy)(nil)
	_ ratify.ResultVersioner  = (*Policy)(nil)
)

// New validates cfg, reads the module from PolicyPath when it is given, and
// compiles it. A missing file or a module that does not compile is an error
// wrapping errdef.ErrInvalidConfig (and fs.ErrNotExist for a missing file).
func New(cfg Config, opts Options) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	text, field := cfg.Policy, "policy"
	if cfg.PolicyPath != "" {
		b, err := readPolicy(cfg.PolicyPath)
		if err != nil {
			return nil, fmt.Errorf("policyPath: %w: %w", err, errdef.ErrInvalidConfig)
		}
		text, field = string(b), "policyPath"
	}
	query, dialect, err := compile(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Policy{query: query, dialect: dialect, passthrough: cfg.PassthroughEnabled, timeout: timeout}, nil
}

func readPolicy(path string) ([]byte, error) {
	b, err := limitedfile.Read(path, MaxPolicySize)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// Dialect returns the Rego version the module was compiled as: "v0" or "v1".
func (p *Policy) Dialect() string {
	if p.dialect == ast.RegoV0 {
		return "v0"
	}
	return "v1"
}

// ResultVersion returns ratify.NestedResultVersion: results judged by a Rego
// policy are reported in Ratify v1's nested format 1.1.0.
func (p *Policy) ResultVersion() string { return ratify.NestedResultVersion }

// Decide reports whether the policy lets the subject pass. It is false when
// passthrough is enabled and when the policy could not decide (see Evaluate).
func (p *Policy) Decide(ctx context.Context, reports []ratify.Report) bool {
	ok, err := p.Evaluate(ctx, reports)
	return err == nil && ok
}

// DecideNested is always true: the policy judges the whole tree at once, the
// nested reports included, so a nested subject is not judged on its own and
// a report keeps its verifier's verdict (as in Ratify v1's 1.1.0 results).
func (p *Policy) DecideNested(context.Context, []ratify.Report, []string) bool { return true }

// Evaluate evaluates data.ratify.policy.valid with the nested tree of reports
// as input. With passthrough enabled it returns false without evaluating.
// An undefined result, a value that is not a boolean and an evaluation error
// are errors wrapping errdef.ErrInvalidConfig (the policy does not decide
// for this input); an evaluation cut short by the deadline or by
// Options.Timeout wraps errdef.ErrTimeout.
func (p *Policy) Evaluate(ctx context.Context, reports []ratify.Report) (bool, error) {
	if p.passthrough {
		return false, nil
	}
	input, err := Input(reports)
	if err != nil {
		return false, err
	}
	ectx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rs, err := p.query.Eval(ectx, rego.EvalParsedInput(input))
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			return false, fmt.Errorf("evaluate %s: %w", Query, ctx.Err())
		case ctx.Err() != nil:
			return false, fmt.Errorf("evaluate %s: %w", Query, errdef.ErrTimeout)
		case ectx.Err() != nil:
			return false, fmt.Errorf("evaluate %s: took longer than %s: %w", Query, p.timeout, errdef.ErrTimeout)
		}
		return false, undecided("%v", err)
	}
	switch {
	case len(rs) == 0:
		return false, undecided("%s is undefined for this input (declare \"default valid := false\")", Query)
	case len(rs) > 1 || len(rs[0].Expressions) != 1:
		return false, undecided("%s has %d values", Query, len(rs))
	}
	v := rs[0].Expressions[0].Value
	b, ok := v.(bool)
	if !ok {
		return false, undecided("%s is %s, not a boolean", Query, describe(v))
	}
	return b, nil
}

// Input returns the policy's input for reports: {"verifierReports": [...]}
// holding ratify.NestReports(reports), as an OPA value.
func Input(reports []ratify.Report) (ast.Value, error) {
	doc := struct {
		VerifierReports []ratify.ArtifactReport `json:"verifierReports"`
	}{ratify.NestReports(reports)}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("policy input: %w", err)
	}
	v, err := ast.ValueFromReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("policy input: %w", err)
	}
	return v, nil
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	s := string(b)
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

func undecided(format string, args ...any) error {
	return fmt.Errorf("policy could not decide: %s: %w", fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}
