package v1beta1_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGeneratedFilesUpToDate runs controller-gen on a copy of this package
// and fails when the checked-in deepcopy functions or CRD manifests
// (charts/ratify/crds) differ from what it generates: run `make generate`.
// controller-gen is $RATIFY_TEST_CONTROLLER_GEN (the Makefile sets it), else
// .cache/bin/controller-gen, built from tools/controller-gen when missing.
func TestGeneratedFilesUpToDate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gen := controllerGen(t, root)

	// A copy of the module holding only the hand-written sources.
	tmp := t.TempDir()
	pkg := filepath.Join(tmp, "api", "v1beta1")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(tmp, f))
	}
	sources, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sources {
		if !strings.HasSuffix(f, "_test.go") && !strings.HasPrefix(f, "zz_generated") {
			copyFile(t, f, filepath.Join(pkg, f))
		}
	}
	crds := filepath.Join(tmp, "crds")
	run(t, tmp, gen, "object", "paths=./api/...")
	run(t, tmp, gen, "crd", "paths=./api/...", "output:crd:dir="+crds)

	same(t, filepath.Join(pkg, "zz_generated.deepcopy.go"), "zz_generated.deepcopy.go")
	want := names(t, filepath.Join(crds, "*.yaml"))
	got := names(t, filepath.Join(root, "charts", "ratify", "crds", "config.ratify.deislabs.io_*.yaml"))
	if !slices.Equal(got, want) {
		t.Errorf("charts/ratify/crds holds %v, controller-gen makes %v: run `make generate`", got, want)
	}
	for _, name := range want {
		same(t, filepath.Join(crds, name), filepath.Join(root, "charts", "ratify", "crds", name))
	}
	if len(want) != 8 {
		t.Errorf("controller-gen made %d CRDs, want 8: %v", len(want), want)
	}
}

// controllerGen returns the path of controller-gen, building it when it
// is missing.
func controllerGen(t *testing.T, root string) string {
	t.Helper()
	if p := os.Getenv("RATIFY_TEST_CONTROLLER_GEN"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p := filepath.Join(root, ".cache", "bin", "controller-gen")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	// Built beside its final path and renamed, so that test binaries
	// building it at the same time never run a half-written file.
	partial := fmt.Sprintf("%s.%d", p, os.Getpid())
	run(t, filepath.Join(root, "tools", "controller-gen"), "go", "build", "-o", partial, "sigs.k8s.io/controller-tools/cmd/controller-gen")
	if err := os.Rename(partial, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// same fails the test when the generated file differs from the checked-in one.
func same(t *testing.T, generated, checkedIn string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(checkedIn)
	if err != nil {
		t.Fatalf("%v: run `make generate`", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what controller-gen generates: run `make generate`", checkedIn)
	}
}

func names(t *testing.T, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	slices.Sort(out)
	return out
}
