package cosign

import (
	"fmt"
	"regexp"
	"strings"
)

// A scope says which repositories a trust policy applies to. Scopes are
// matched against the subject's "registry/repository", never its tag or
// digest, and are anchored at path segments:
//
//   - "*" matches every repository that no other scope matches; at most
//     one policy has it, and as its only scope.
//   - "registry.io/team/app" matches exactly that repository.
//   - "registry.io/team/*" matches every repository under
//     registry.io/team/, at any depth, but not registry.io/team itself.
//     The wildcard is allowed only as the last character, right after a
//     "/": "registry.io*" or "registry.io/te*" are refused, so that no
//     scope can reach registry.io.evil.com or registry.io/team-evil.
//
// Scopes of different policies must not overlap (an exact scope under
// another policy's wildcard, or one wildcard under another), so that the
// policy a repository gets never depends on the order of the file; only the
// global "*" yields to every other scope.
type scope struct {
	raw    string
	prefix string // for wildcards: the text before "*", ending in "/"
	wild   bool
}

// scopePattern is registry[:port] followed by path components (OCI
// distribution-spec v1.1, "Pulling manifests": <name>), optionally ending
// in "/*". Registries are lowercase, as Ratify v1's scopes were.
var scopePattern = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:]+\])(?::[0-9]{1,5})?` +
	`(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?:/\*)?$`)

func parseScope(s string) (scope, error) {
	if s == "*" {
		return scope{raw: s, wild: true}, nil
	}
	if !scopePattern.MatchString(s) {
		switch {
		case strings.Contains(s, "*") && !strings.HasSuffix(s, "/*"):
			return scope{}, fmt.Errorf("scope %q: a wildcard is allowed only as a whole last path segment (\"registry/path/*\") or alone (\"*\")", s)
		case strings.ContainsAny(s, "@"):
			return scope{}, fmt.Errorf("scope %q: scopes name repositories, without a digest", s)
		case strings.Contains(s, ":") && strings.Contains(s[strings.LastIndex(s, "/")+1:], ":"):
			return scope{}, fmt.Errorf("scope %q: scopes name repositories, without a tag", s)
		}
		return scope{}, fmt.Errorf("scope %q is not \"*\", \"registry/repository\" or \"registry/path/*\" (lowercase)", s)
	}
	if prefix, ok := strings.CutSuffix(s, "*"); ok {
		return scope{raw: s, prefix: prefix, wild: true}, nil
	}
	return scope{raw: s}, nil
}

// global reports whether the scope is "*".
func (s scope) global() bool { return s.wild && s.prefix == "" }

// matches reports whether repo ("registry/repository") is in the scope.
func (s scope) matches(repo string) bool {
	switch {
	case s.global():
		return true
	case s.wild:
		return strings.HasPrefix(repo, s.prefix) && len(repo) > len(s.prefix)
	default:
		return repo == s.raw
	}
}

// overlaps reports whether some repository would be in both scopes. The
// global scope overlaps nothing: it is the fallback.
func (s scope) overlaps(o scope) bool {
	switch {
	case s.global() || o.global():
		return false
	case s.wild && o.wild:
		return strings.HasPrefix(s.prefix, o.prefix) || strings.HasPrefix(o.prefix, s.prefix)
	case s.wild:
		return s.matches(o.raw)
	case o.wild:
		return o.matches(s.raw)
	default:
		return s.raw == o.raw
	}
}

// parseScopes parses the scopes of every policy and refuses overlaps
// between policies and more than one global scope. It returns the scopes
// of each policy, in order.
func parseScopes(policies []TrustPolicy) ([][]scope, error) {
	out := make([][]scope, len(policies))
	type owner struct {
		policy int
		scope  scope
	}
	var seen []owner
	global := -1
	for i, p := range policies {
		for j, raw := range p.Scopes {
			s, err := parseScope(raw)
			if err != nil {
				return nil, invalid(fmt.Sprintf("trustPolicies[%d].scopes[%d]", i, j), "%v", err)
			}
			if s.global() {
				if global >= 0 && global != i {
					return nil, invalid(fmt.Sprintf("trustPolicies[%d].scopes[%d]", i, j),
						"trust policies %q and %q both have the global scope \"*\"; only one may", policies[global].Name, p.Name)
				}
				global = i
			}
			for _, o := range seen {
				if o.policy != i && s.overlaps(o.scope) {
					return nil, invalid(fmt.Sprintf("trustPolicies[%d].scopes[%d]", i, j),
						"scope %q of trust policy %q overlaps scope %q of trust policy %q; a repository must be in the scope of one policy only",
						s.raw, p.Name, o.scope.raw, policies[o.policy].Name)
				}
			}
			seen = append(seen, owner{policy: i, scope: s})
			out[i] = append(out[i], s)
		}
	}
	return out, nil
}
