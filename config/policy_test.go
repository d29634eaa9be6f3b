package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// TestMultiPlatformScopes checks how policy.plugin.multiPlatform picks a
// mode for a repository, and which scopes it refuses.
func TestMultiPlatformScopes(t *testing.T) {
	mode, err := platformModes(map[string]string{
		"default": "either", "registry.example/*": "index", "registry.example/team/*": "platforms",
		"registry.example/team/special": "index", "other.example:5000/app": "platforms",
	})
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]ratify.PlatformMode{
		"registry.example/team/app":        ratify.PlatformsAll,    // longest wildcard
		"registry.example/team/deep/app":   ratify.PlatformsAll,    // any depth below
		"registry.example/team/special":    ratify.PlatformsIndex,  // exact wins
		"registry.example/app":             ratify.PlatformsIndex,  // the registry's wildcard
		"registry.example.evil.com/team/x": ratify.PlatformsEither, // anchored: default
		"other.example:5000/app":           ratify.PlatformsAll,
		"elsewhere/app":                    ratify.PlatformsEither,
	} {
		if got := mode(repo); got != want {
			t.Errorf("%s: %s, want %s", repo, got, want)
		}
	}
	if none, err := platformModes(nil); err != nil || none != nil {
		t.Errorf("no multiPlatform: function set %v, %v; want none (index everywhere)", none != nil, err)
	}
	for _, bad := range []map[string]string{
		{"default": "some"}, {"registry.example*": "platforms"}, {"registry.example/te*": "platforms"},
		{"registry.example/app:v1": "platforms"}, {"registry.example/app@sha256:abc": "platforms"}, {"/app": "platforms"},
	} {
		if _, err := platformModes(bad); !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "policy.plugin.multiPlatform") {
			t.Errorf("%v: %v, want ErrInvalidConfig naming policy.plugin.multiPlatform", bad, err)
		}
	}
}

// TestPolicyExtensionsBuild checks that multiPlatform and artifactSelection
// in config.json reach the executor.
func TestPolicyExtensionsBuild(t *testing.T) {
	kmp, _ := inlineProvider(t, "kmp-inline")
	doc := strings.Replace(withKeys(`{"ca": {"certs": ["kmp-inline"]}}`, "["+kmp+"]"), `"artifactVerificationPolicies"`,
		`"multiPlatform": {"default": "platforms"}, "artifactSelection": {"application/sarif+json": {"newest": 2, "annotations": {"k": "v"}}}, "artifactVerificationPolicies"`, 1)
	cfg, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	exec, err := Build(cfg, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel := exec.Selection["application/sarif+json"]
	if exec.PlatformMode == nil || exec.PlatformMode("r.example/app") != ratify.PlatformsAll || sel.Newest != 2 || sel.Annotations["k"] != "v" {
		t.Fatalf("executor: platform mode set %v, selection %+v", exec.PlatformMode != nil, exec.Selection)
	}
	bad := strings.Replace(v1Config, `"artifactVerificationPolicies"`, `"artifactSelection": {"t": {"newest": -1}}, "artifactVerificationPolicies"`, 1)
	if _, err := Parse([]byte(bad)); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("negative newest: %v, want ErrInvalidConfig", err)
	}
}
