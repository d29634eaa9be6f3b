package testratify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Env returns the current environment without the variables that would let
// the user's own configuration (or a proxy) reach a child process, plus a
// fresh HOME with the XDG directories under it, an empty RATIFY_CONFIG
// directory and an empty DOCKER_CONFIG, all under t's temporary directory.
// A variable appended to the result overrides the one Env set.
func Env(t testing.TB) []string {
	t.Helper()
	env, _ := isolated(t)
	return env
}

// isolated is Env, also returning the HOME it set.
func isolated(t testing.TB) (env []string, home string) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !isIsolated(name) {
			env = append(env, kv)
		}
	}
	home = t.TempDir()
	return append(env,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"RATIFY_CONFIG="+t.TempDir(),
		"DOCKER_CONFIG="+t.TempDir(),
	), home
}

// isIsolated tells whether Env drops the variable name: one that would let
// the user's own configuration, credentials, cluster or a proxy reach a
// child process (compared case-insensitively, as Windows spells them).
func isIsolated(name string) bool {
	switch strings.ToUpper(name) {
	case "HOME", "RATIFY_CONFIG", "DOCKER_CONFIG", "KUBECONFIG", "NOTATION_EXPERIMENTAL",
		"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
		"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
		return true
	}
	return false
}
