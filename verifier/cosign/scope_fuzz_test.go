package cosign

import (
	"strings"
	"testing"
)

// FuzzScope checks that trust policy scopes are anchored: a scope accepted
// by the parser matches a repository ("registry/repository") only when it
// is "*", the repository itself, or "registry/path/*" and the repository
// lies below that path, whole segments only. A "*" anywhere else is
// refused, so "registry.io*" is never a scope and "registry.io/*" never
// matches "registry.io.evil.com/app".
func FuzzScope(f *testing.F) {
	for _, s := range [][2]string{
		{"registry.io/*", "registry.io.evil.com/app"}, {"registry.io*", "registry.io.evil.com/app"}, {"registry.io/team/*", "registry.io/team-evil/app"},
		{"registry.io/team/*", "registry.io/team"}, {"*", "anything/at/all"}, {"registry.io/app", "registry.io/app/sub"},
		{"localhost:5000/*", "localhost:50000/app"}, {"[::1]:5000/a/*", "[::1]:5000/a/b"}, {"registry.io/a/*/b", "registry.io/a/x/b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, repo string) {
		s, err := parseScope(raw)
		if err != nil {
			return
		}
		if i := strings.Index(raw, "*"); i >= 0 && raw != "*" && (i != len(raw)-1 || !strings.HasSuffix(raw, "/*")) {
			t.Fatalf("parseScope accepted %q: a '*' that is not a whole last segment", raw)
		}
		if s.wild && !s.global() && !strings.HasSuffix(s.prefix, "/") {
			t.Fatalf("wildcard scope %q has prefix %q, not ending at a segment", raw, s.prefix)
		}
		if !s.matches(repo) {
			return
		}
		switch {
		case raw == "*":
		case strings.HasSuffix(raw, "/*"):
			prefix := strings.TrimSuffix(raw, "*")
			if !strings.HasPrefix(repo, prefix) || len(repo) == len(prefix) {
				t.Fatalf("%q matched %q, which is not below %q", raw, repo, prefix)
			}
			scopeRegistry, _, _ := strings.Cut(raw, "/")
			repoRegistry, _, _ := strings.Cut(repo, "/")
			if scopeRegistry != repoRegistry {
				t.Fatalf("%q matched %q in another registry", raw, repo)
			}
		default:
			if raw != repo {
				t.Fatalf("%q matched %q", raw, repo)
			}
		}
	})
}
