package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/policy/configpolicy"
	"github.com/openratify/ratify/policy/rego"
	"github.com/openratify/ratify/policy/threshold"
)

// buildPolicy builds policy.plugin; verifiers are the configured verifiers'
// names, which a threshold policy's rules must name.
func buildPolicy(cfg *Config, verifiers []string) (ratify.Policy, error) {
	pl := cfg.Policy.Plugin
	switch pl.Name {
	case "regoPolicy":
		p, err := rego.New(rego.Config{Name: pl.Name, Policy: pl.Policy, PolicyPath: cfg.path(pl.PolicyPath),
			PassthroughEnabled: pl.PassthroughEnabled}, rego.Options{})
		if err != nil {
			return nil, fmt.Errorf("policy.plugin.%w", err)
		}
		return p, nil
	case "thresholdPolicy":
		p, err := threshold.New(threshold.Config{Name: pl.Name, Rules: pl.Rules, Threshold: pl.Threshold},
			threshold.Options{VerifierNames: verifiers})
		if err != nil {
			return nil, fmt.Errorf("policy.plugin.%w", err)
		}
		return p, nil
	default:
		return configpolicy.New(pl.ArtifactVerificationPolicies)
	}
}

// platformModes turns policy.plugin.multiPlatform into the executor's
// choice of mode by repository: the exact repository's entry, else the
// longest "prefix/*" entry that contains it, else "default", else
// ratify.PlatformsIndex.
func platformModes(scopes map[string]string) (func(repository string) ratify.PlatformMode, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	modes := make(map[string]ratify.PlatformMode, len(scopes))
	for _, scope := range slices.Sorted(maps.Keys(scopes)) { // the same mistake reported every time
		m := scopes[scope]
		path := fmt.Sprintf("policy.plugin.multiPlatform[%q]", scope)
		switch mode := ratify.PlatformMode(m); mode {
		case ratify.PlatformsIndex, ratify.PlatformsAll, ratify.PlatformsEither:
			modes[scope] = mode
		default:
			return nil, invalid(path, "%q is not index, platforms or either", m)
		}
		if scope == "default" {
			continue
		}
		if !validScope(scope) {
			return nil, invalid(path, "a scope is \"default\", registry/repository, or registry/path/* (whole path segments; no tag or digest)")
		}
	}
	return func(repository string) ratify.PlatformMode {
		if m, ok := modes[repository]; ok {
			return m
		}
		best, mode := -1, modes["default"]
		for scope, m := range modes {
			prefix, wild := strings.CutSuffix(scope, "/*")
			if wild && strings.HasPrefix(repository, prefix+"/") && len(prefix) > best {
				best, mode = len(prefix), m
			}
		}
		if mode == "" {
			return ratify.PlatformsIndex
		}
		return mode
	}, nil
}

// validScope reports whether scope is registry/repository or
// registry[/path]/*.
func validScope(scope string) bool {
	prefix, wild := strings.CutSuffix(scope, "/*")
	host, repo, _ := strings.Cut(prefix, "/")
	return host != "" && (repo != "" || wild) && !strings.ContainsAny(prefix, "*@") && !strings.Contains(repo, ":")
}

// selections turns policy.plugin.artifactSelection into the executor's.
func selections(sel map[string]ArtifactSelection) map[string]ratify.ArtifactSelection {
	if len(sel) == 0 {
		return nil
	}
	out := make(map[string]ratify.ArtifactSelection, len(sel))
	for t, s := range sel {
		out[t] = ratify.ArtifactSelection{Newest: s.Newest, Annotations: s.Annotations}
	}
	return out
}
