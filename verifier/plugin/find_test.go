package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
)

func TestNewFindsPlugin(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	t.Run("first directory that has it", func(t *testing.T) {
		empty, dir := t.TempDir(), install(t, "licensechecker", 0o755)
		v, err := New(Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{empty, dir}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if v.Path() != filepath.Join(dir, "licensechecker") || v.Type() != "licensechecker" || !v.CanVerify("anything") {
			t.Errorf("verifier %s at %s", v.Type(), v.Path())
		}
	})
	t.Run("named by type", func(t *testing.T) {
		dir := install(t, "licensechecker", 0o755)
		v, err := New(Config{Name: "verifier-license", Type: "licensechecker", ArtifactTypes: List{spdxType},
			NestedReferences: List{"application/vnd.cncf.notary.signature"}}, Options{PluginBinDirs: []string{dir}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if v.Name() != "verifier-license" || v.Type() != "licensechecker" || !v.CanVerify(spdxType) || v.CanVerify("other") ||
			len(v.NestedReferences()) != 1 {
			t.Errorf("verifier %s/%s", v.Name(), v.Type())
		}
	})
	t.Run("relative directory", func(t *testing.T) {
		dir := install(t, "licensechecker", 0o755)
		if _, err := New(Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{filepath.Base(dir)}, BaseDir: filepath.Dir(dir)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("default ~/.ratify/plugins", func(t *testing.T) {
		home := t.TempDir()
		if err := os.MkdirAll(filepath.Join(home, ".ratify"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(install(t, "licensechecker", 0o755), filepath.Join(home, ".ratify", "plugins")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("HOME", home)
		v, err := New(Config{Name: "licensechecker"}, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if v.Path() != filepath.Join(home, ".ratify", "plugins", "licensechecker") {
			t.Errorf("path %s", v.Path())
		}
	})
	t.Run("symbolic link", func(t *testing.T) {
		target := filepath.Join(install(t, "real", 0o755), "real")
		dir := t.TempDir()
		if err := os.Symlink(target, filepath.Join(dir, "licensechecker")); err != nil {
			t.Fatal(err)
		}
		v, err := New(Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{dir}, Logger: quiet})
		if err != nil || v.Path() != target {
			t.Fatalf("New = %v; path %v", err, v)
		}
	})
	t.Run("sticky world-writable directory", func(t *testing.T) {
		dir := install(t, "licensechecker", 0o755)
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{dir}, Logger: quiet}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (Config, Options)
		text  string
	}{
		{"no name", func(t *testing.T) (Config, Options) { return Config{}, Options{} }, "name"},
		{"path in name", func(t *testing.T) (Config, Options) { return Config{Name: "../bin/sh"}, Options{} }, "plain file name"},
		{"path in type", func(t *testing.T) (Config, Options) { return Config{Name: "x", Type: "/bin/sh"}, Options{} }, "plain file name"},
		{"dot-dot", func(t *testing.T) (Config, Options) { return Config{Name: ".."}, Options{} }, "plain file name"},
		{"entry not an object", func(t *testing.T) (Config, Options) {
			return Config{Name: "x", Entry: json.RawMessage(`[1]`)}, Options{}
		}, "not a JSON object"},
		{"not found", func(t *testing.T) (Config, Options) {
			return Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{t.TempDir()}}
		}, "not found in plugin directories"},
		{"only on PATH", func(t *testing.T) (Config, Options) {
			t.Setenv("PATH", install(t, "licensechecker", 0o755))
			return Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{t.TempDir()}}
		}, "not found"},
		{"world-writable", func(t *testing.T) (Config, Options) {
			return Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{install(t, "licensechecker", 0o757)}}
		}, "world-writable"},
		{"world-writable directory", func(t *testing.T) (Config, Options) {
			dir := install(t, "licensechecker", 0o755)
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			return Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{dir}}
		}, "world-writable directory"},
		{"not executable", func(t *testing.T) (Config, Options) {
			return Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{install(t, "licensechecker", 0o644)}}
		}, "not executable"},
		{"a directory", func(t *testing.T) (Config, Options) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "licensechecker"), 0o755); err != nil {
				t.Fatal(err)
			}
			return Config{Name: "licensechecker"}, Options{PluginBinDirs: []string{dir}}
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, opts := tt.setup(t)
			_, err := New(cfg, opts)
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("New = %v, want a configuration error saying %q", err, tt.text)
			}
		})
	}
}

// TestVerifyRechecks checks that a plugin made world-writable after the
// verifier was built is no longer run.
func TestVerifyRechecks(t *testing.T) {
	v := newVerifier(t, "pass", Options{})
	if err := os.Chmod(v.Path(), 0o777); err != nil {
		t.Fatal(err)
	}
	r, err := v.Verify(context.Background(), subject, artifact, nil)
	if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "world-writable") || r.IsSuccess {
		t.Fatalf("Verify = %+v, %v; want the plugin refused", r, err)
	}
	if err := os.Remove(v.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), subject, artifact, nil); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("Verify of a removed plugin = %v", err)
	}
}
