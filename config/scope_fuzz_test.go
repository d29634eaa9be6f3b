package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// FuzzMultiPlatformScope checks that policy.plugin.multiPlatform scopes
// are anchored: a scope that is accepted gives its mode to a repository
// only when the scope names it exactly, or is "registry/path/*" and the
// repository lies below that path in whole segments; "registry.io*" is
// refused and "registry.io/*" never reaches "registry.io.evil.com/app".
func FuzzMultiPlatformScope(f *testing.F) {
	for _, s := range [][2]string{
		{"registry.io/*", "registry.io.evil.com/app"}, {"registry.io*", "registry.io.evil.com/app"},
		{"registry.io/team/*", "registry.io/team-evil/app"}, {"registry.io/team/*", "registry.io/team"},
		{"registry.io/app", "registry.io/app/sub"}, {"localhost:5000/*", "localhost:50000/app"}, {"default", "any/repo"},
		{"registry.io/a@sha256:x", "registry.io/a"}, {"registry.io/a:v1", "registry.io/a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, scope, repo string) {
		mode, err := platformModes(map[string]string{scope: string(ratify.PlatformsAll)})
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("platformModes(%q): %v does not wrap ErrInvalidConfig", scope, err)
			}
			return
		}
		if scope != "default" && strings.Contains(strings.TrimSuffix(scope, "/*"), "*") {
			t.Fatalf("accepted scope %q with a '*' that is not a whole last segment", scope)
		}
		if mode(repo) != ratify.PlatformsAll {
			return
		}
		prefix, wild := strings.CutSuffix(scope, "/*")
		switch {
		case scope == "default", repo == scope:
		case wild && strings.HasPrefix(repo, prefix+"/"):
		default:
			t.Fatalf("scope %q applied to repository %q", scope, repo)
		}
	})
}
