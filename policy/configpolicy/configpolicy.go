// Package configpolicy is Ratify v1's "configPolicy": per artifact type, "any"
// (at least one report of that type succeeds) or "all" (every report of that
// type succeeds). Every type named in the policy is required; the "default"
// entry applies to types the policy does not name; a subject with no reports
// at all fails.
package configpolicy

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// Rule is how the reports of one artifact type combine.
type Rule string

const (
	// Any passes when at least one report of the type succeeds.
	Any Rule = "any"
	// All passes when every report of the type succeeds.
	All Rule = "all"
)

// DefaultKey is the key of the rule for artifact types the policy does not name.
const DefaultKey = "default"

// Policy is a validated config policy.
type Policy struct {
	rules map[string]Rule
}

// New builds a policy from artifactVerificationPolicies. Without a "default"
// entry, unnamed types must all succeed ("all"), as in Ratify v1.
func New(rules map[string]string) (*Policy, error) {
	p := &Policy{rules: map[string]Rule{DefaultKey: All}}
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch r := Rule(rules[k]); r {
		case Any, All:
			p.rules[k] = r
		default:
			return nil, fmt.Errorf("artifactVerificationPolicies[%q]: %q is not \"any\" or \"all\": %w", k, rules[k], errdef.ErrInvalidConfig)
		}
	}
	return p, nil
}

// Decide applies the policy to the reports of one subject.
func (p *Policy) Decide(_ context.Context, reports []ratify.Report) bool {
	return p.decide(reports, func(string) bool { return true })
}

// DecideNested applies the policy to the reports on a nested subject, where
// only the artifact types asked for (types) are required.
func (p *Policy) DecideNested(_ context.Context, reports []ratify.Report, types []string) bool {
	return p.decide(reports, func(t string) bool { return slices.Contains(types, t) })
}

func (p *Policy) decide(reports []ratify.Report, required func(artifactType string) bool) bool {
	if len(reports) == 0 {
		return false
	}
	satisfied := make(map[string]bool)
	for t := range p.rules {
		if t != DefaultKey && required(t) {
			satisfied[t] = false // a named type is required
		}
	}
	for _, r := range reports {
		rule, named := p.rules[r.ArtifactType]
		if !named {
			rule = p.rules[DefaultKey]
		}
		if _, seen := satisfied[r.ArtifactType]; !seen {
			satisfied[r.ArtifactType] = rule == All
		}
		switch rule {
		case Any:
			if r.IsSuccess {
				satisfied[r.ArtifactType] = true
			}
		case All:
			if !r.IsSuccess {
				return false
			}
			satisfied[r.ArtifactType] = true
		}
	}
	for _, ok := range satisfied {
		if !ok {
			return false
		}
	}
	return true
}

// Requires returns the artifact types the policy names, sorted: a subject
// passes only if it has a successful report of each.
func (p *Policy) Requires() []string {
	var types []string
	for t := range p.rules {
		if t != DefaultKey {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	return types
}
