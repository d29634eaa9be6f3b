// Package threshold is ratify's "thresholdPolicy", an extension Ratify v1
// does not have: a subject passes when enough of a list of rules hold, each
// rule naming a verifier ("two of these three signers") or grouping rules of
// its own with their own threshold. See Config and Rule for the JSON shape
// and what each rule means.
//
// Rules name verifier instances (config.json's verifier.plugins[].name), so
// "two signers" is two notation verifiers, each trusting one signer's
// certificates, not two signatures: two signatures verified by the same
// verifier satisfy one rule.
//
// A subject whose artifacts a verifier verifies in turn (nested
// verification: the signature of an SBOM) is judged by DecideNested: it
// passes when, for each artifact type the verifier asked for, at least one
// artifact of that type verified. The rules apply to the subject itself.
package threshold

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/openratify/ratify"
)

// Options tune a Policy. The zero value works.
type Options struct {
	// VerifierNames, when not nil, are the names of the configured
	// verifiers: a rule naming another is a configuration error instead of a
	// rule that never holds.
	VerifierNames []string
}

// Policy is a validated threshold policy. It is safe for concurrent use.
type Policy struct {
	root node
}

var (
	_ ratify.Policy       = (*Policy)(nil)
	_ ratify.NestedPolicy = (*Policy)(nil)
)

// node is a validated rule: a verifier rule when verifier is set, a group
// rule otherwise.
type node struct {
	verifier string
	nested   bool
	rules    []node
	need     int
}

// New validates cfg and builds the policy. Errors wrap errdef.ErrInvalidConfig
// and name the JSON path of the offending field.
func New(cfg Config, opts Options) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root, err := build(cfg.Rules, cfg.Threshold, "", opts)
	if err != nil {
		return nil, err
	}
	return &Policy{root: root}, nil
}

func build(rules []Rule, threshold *int, path string, opts Options) (node, error) {
	n := node{need: len(rules)}
	if threshold != nil {
		n.need = *threshold
	}
	for i, r := range rules {
		p := fmt.Sprintf("%s[%d]", join(path, "rules"), i)
		if r.VerifierName != "" {
			if opts.VerifierNames != nil && !slices.Contains(opts.VerifierNames, r.VerifierName) {
				return node{}, invalid(p+".verifierName", "no verifier is named %q (configured: %s)",
					r.VerifierName, strings.Join(opts.VerifierNames, ", "))
			}
			n.rules = append(n.rules, node{verifier: r.VerifierName, nested: r.Nested})
			continue
		}
		child, err := build(r.Rules, r.Threshold, p, opts)
		if err != nil {
			return node{}, err
		}
		n.rules = append(n.rules, child)
	}
	return n, nil
}

// Decide reports whether the rules hold for the reports on a subject.
func (p *Policy) Decide(_ context.Context, reports []ratify.Report) bool {
	top := make(map[string]bool)
	deep := make(map[string]bool)
	for _, r := range reports {
		if r.IsSuccess {
			top[verifierName(r)] = true
			collect(r, deep)
		}
	}
	return p.root.holds(top, deep)
}

// DecideNested judges a nested subject: it passes when, for each artifact
// type asked for, at least one report on an artifact of that type
// succeeded (when none is asked for, when any report succeeded).
func (p *Policy) DecideNested(_ context.Context, reports []ratify.Report, types []string) bool {
	if len(types) == 0 {
		return slices.ContainsFunc(reports, func(r ratify.Report) bool { return r.IsSuccess })
	}
	for _, t := range types {
		if !slices.ContainsFunc(reports, func(r ratify.Report) bool { return r.IsSuccess && r.ArtifactType == t }) {
			return false
		}
	}
	return true
}

// collect adds to names the verifiers of r, a successful report, and of the
// successful reports nested under it, recursively.
func collect(r ratify.Report, names map[string]bool) {
	names[verifierName(r)] = true
	for _, n := range r.NestedResults {
		if n.IsSuccess {
			collect(n, names)
		}
	}
}

// holds reports whether the rule holds given the verifiers with a
// successful report on the subject (top) and anywhere below it (deep).
func (n node) holds(top, deep map[string]bool) bool {
	if n.verifier != "" {
		if n.nested {
			return deep[n.verifier]
		}
		return top[n.verifier]
	}
	held := 0
	for _, r := range n.rules {
		if r.holds(top, deep) {
			if held++; held >= n.need {
				return true
			}
		}
	}
	return false
}

func verifierName(r ratify.Report) string {
	if r.VerifierName != "" {
		return r.VerifierName
	}
	return r.Name
}
