// Package testratify is the harness the end-to-end suites (test/e2e,
// test/gatekeeper, test/admission, test/chart) share to drive ratify as
// users do: it finds the module root, builds the ratify binary and the
// notation CLI (v1.3.2, pinned in tools/go.mod), gives child processes an
// isolated environment, runs `ratify serve` on loopback until /readyz (the
// health endpoint of README.md, "Serving Gatekeeper") answers, writes
// Ratify v1 config.json files that verify Notary Project signatures (Notary
// Project trust policy v1.0) and signs images with the real notation CLI.
//
// It is test support: it may fail the test it is given and never skips.
package testratify

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EnvNotation names the environment variable that points at a built
// notation CLI (the Makefile sets it and builds the binary).
const EnvNotation = "RATIFY_TEST_NOTATION"

// moduleRoot caches ModuleRoot for the process.
var moduleRoot = sync.OnceValues(findModuleRoot)

// ModuleRoot returns the directory of the ratify module's go.mod, as the go
// command run from the working directory finds it. It is computed once per
// process.
func ModuleRoot() (string, error) { return moduleRoot() }

func findModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the ratify module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// builds holds one cached build of ./cmd/ratify per supported set of build
// tags. The table is fixed; sync.OnceValues holds each result.
var builds = map[string]func() (string, error){
	"":    sync.OnceValues(func() (string, error) { return buildRatify("") }),
	"k8s": sync.OnceValues(func() (string, error) { return buildRatify("k8s") }),
}

// Build returns the path of the ratify binary built from ./cmd/ratify with
// the build tags given: none, or "k8s" (the Kubernetes controllers, as the
// container image is built). It builds once per process and tag set, into
// <root>/.cache/bin/ratify-test[-TAGS]; the file is replaced atomically, so
// that test binaries of several packages may build at the same time.
func Build(tags ...string) (string, error) {
	key := strings.Join(tags, ",")
	build, ok := builds[key]
	if !ok {
		return "", fmt.Errorf("testratify: no build of ratify with tags %q (known: none, k8s)", key)
	}
	return build()
}

func buildRatify(tags string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	name := "ratify-test"
	args := []string{}
	if tags != "" {
		name += "-" + strings.ReplaceAll(tags, ",", "-")
		args = append(args, "-tags", tags)
	}
	path := filepath.Join(root, ".cache", "bin", name)
	if err := goBuild(root, path, "./cmd/ratify", args...); err != nil {
		return "", fmt.Errorf("build ratify: %w", err)
	}
	return path, nil
}

// notationCLI caches NotationCLI for the process.
var notationCLI = sync.OnceValues(findNotation)

// NotationCLI returns the path of the notation CLI: $RATIFY_TEST_NOTATION
// when set (it must exist), else <root>/.cache/bin/notation built from
// tools/go.mod (the version the Makefile pins) as the Makefile builds it.
// It is computed once per process.
func NotationCLI() (string, error) { return notationCLI() }

func findNotation() (string, error) {
	if path := os.Getenv(EnvNotation); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w (build it with `make tools`, or unset the variable to have the tests build it)", EnvNotation, path, err)
		}
		return path, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, ".cache", "bin", "notation")
	if err := goBuild(filepath.Join(root, "tools"), path, "github.com/notaryproject/notation/cmd/notation"); err != nil {
		return "", fmt.Errorf("build the notation CLI from tools/go.mod: %w", err)
	}
	return path, nil
}

// goBuild runs `go build [flags] -o TMP pkg` in dir and renames TMP to out,
// so that no process ever runs a half-written binary.
func goBuild(dir, out, pkg string, flags ...string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".*.tmp")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append(append([]string{"build"}, flags...), "-o", tmp.Name(), pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, output)
	}
	return os.Rename(tmp.Name(), out)
}

// Main is the body of a suite's TestMain: it runs setup (which builds or
// finds the binaries the suite drives), then the tests of m, and exits
// with their code. When setup fails it prints its error, prefixed with
// suite, and exits 1 without running a test.
func Main(m *testing.M, suite string, setup func() error) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
