// Package chart tests the Helm chart (charts/ratify) and the container
// image's Dockerfile. The chart is linted and rendered by the real helm v3
// CLI (built from the Go module proxy at the version pinned in
// tools/k8s/helm), with its defaults and with the `--set` lists of Ratify
// v1's install guides (testdata/*.set), and the rendered objects are checked
// against what consumes them: the Deployment's fields, config.json and the
// Store, Verifier and Policy resources through ratify's own config package
// (composed, built and verifying a real Notary Project signature), the
// resources against their Go types (api/v1beta1) and CRDs (crds/), and the
// Gatekeeper objects through Gatekeeper's own policy engine and provider
// cache (github.com/open-policy-agent/frameworks/constraint).
//
// Run it with `make chart-test` or `go test ./test/chart/`: helm is taken
// from $RATIFY_TEST_HELM, else $RATIFY_TEST_K8S_BIN/helm, else
// .cache/k8s-bin/helm, which is built when missing (a minute or two).
package chart

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/openratify/ratify/internal/testratify"
)

// helmOnce finds or builds helm once per test binary.
var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns the path of the helm v3 CLI, building it if needed; it
// fails the test (never skips) when helm can be neither found nor built.
func helm(t testing.TB) string {
	t.Helper()
	helmOnce.Do(func() { helmPath, helmErr = findHelm() })
	if helmErr != nil {
		t.Fatalf("helm: %v", helmErr)
	}
	return helmPath
}

func findHelm() (string, error) {
	if p := os.Getenv("RATIFY_TEST_HELM"); p != "" {
		return p, executable(p)
	}
	if dir := os.Getenv("RATIFY_TEST_K8S_BIN"); dir != "" {
		if p := filepath.Join(dir, "helm"); executable(p) == nil {
			return p, nil
		}
	}
	dir := filepath.Join(moduleRoot(), ".cache", "k8s-bin")
	p := filepath.Join(dir, "helm")
	if executable(p) == nil {
		return p, nil
	}
	return p, buildHelm(dir, p)
}

// buildHelm builds helm from tools/k8s/helm into p, holding the lock that
// tools/k8s/build.sh's callers (internal/testcluster) hold on dir, so that
// concurrent test binaries never read a half-written binary.
func buildHelm(dir, p string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if executable(p) == nil {
		return nil // built by another process while we waited
	}
	src := filepath.Join(moduleRoot(), "tools", "k8s", "helm")
	version, err := run(src, "go", "list", "-m", "-f", "{{.Version}}", "helm.sh/helm/v3")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "chart: building helm %s from tools/k8s/helm into %s\n", version, p)
	tmp := p + ".tmp"
	ldflags := "-s -w -X helm.sh/helm/v3/internal/version.version=" + version
	if _, err := run(src, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", tmp, "helm.sh/helm/v3/cmd/helm"); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func executable(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// moduleRoot returns the directory of the ratify module's go.mod
// (internal/testratify); the tests must run inside the module.
func moduleRoot() string {
	root, err := testratify.ModuleRoot()
	if err != nil {
		panic("test/chart must run inside the ratify module: " + err.Error())
	}
	return root
}

// chartDir returns charts/ratify.
func chartDir() string { return filepath.Join(moduleRoot(), "charts", "ratify") }

// run runs a command in dir and returns its trimmed standard output; the
// error carries standard error.
func run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// helmTemplate renders the chart as release "ratify" in gatekeeper-system
// with the extra helm arguments given (--set ..., -f ...), including the
// CRDs of crds/. It returns helm's error, standard error included, when
// rendering fails.
func helmTemplate(t testing.TB, args ...string) (string, error) {
	t.Helper()
	all := append([]string{"template", "ratify", chartDir(), "--namespace", "gatekeeper-system", "--include-crds"}, args...)
	out, err := run(".", helm(t), all...)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("helm template: %v", err)
	}
	return out, err
}

// render is helmTemplate for arguments that must render; it parses the
// objects.
func render(t testing.TB, args ...string) manifest {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	return parseManifest(t, out)
}
