package testcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/openratify/ratify/internal/testratify"
)

// EnvBin names the environment variable that points at the folder holding
// the control plane's binaries (`make k8s-bins` fills .cache/k8s-bin and the
// Makefile exports it).
const EnvBin = "RATIFY_TEST_K8S_BIN"

// Binaries are the paths of the programs a test cluster runs, all built
// from the Go module proxy at the versions pinned in tools/k8s.
type Binaries struct {
	Dir           string
	KubeAPIServer string // kube-apiserver v1.35.4
	Kubectl       string // kubectl v1.35.4
	Etcd          string // etcd v3.6.16
	Gatekeeper    string // Gatekeeper's manager v3.23.1
	Helm          string // helm v3
}

// binaryNames are the files Binaries expects in its folder.
var binaryNames = []string{"kube-apiserver", "kubectl", "etcd", "gatekeeper-manager", "helm"}

var (
	findOnce sync.Once
	found    *Binaries
	findErr  error
)

// FindBinaries returns the control plane's binaries: those in $RATIFY_TEST_K8S_BIN
// when it is set (each must be there), else those in .cache/k8s-bin at the
// module root, which it builds with tools/k8s/build.sh first when any is
// missing (about ten minutes on a fresh machine, seconds with a warm Go build
// cache). It never skips: a binary that cannot be found or built is an error.
// The result is computed once per process.
func FindBinaries() (*Binaries, error) {
	findOnce.Do(func() { found, findErr = findBinaries() })
	return found, findErr
}

func findBinaries() (*Binaries, error) {
	if dir := os.Getenv(EnvBin); dir != "" {
		b := binariesIn(dir)
		if err := b.check(); err != nil {
			return nil, fmt.Errorf("%s=%s: %w (run `make k8s-bins`, or unset %s to have the tests build them)", EnvBin, dir, err, EnvBin)
		}
		return b, nil
	}
	root, err := testratify.ModuleRoot()
	if err != nil {
		return nil, err
	}
	b := binariesIn(filepath.Join(root, ".cache", "k8s-bin"))
	if b.check() == nil {
		return b, nil
	}
	if err := build(root, b.Dir); err != nil {
		return nil, err
	}
	return b, b.check()
}

func binariesIn(dir string) *Binaries {
	return &Binaries{
		Dir:           dir,
		KubeAPIServer: filepath.Join(dir, "kube-apiserver"),
		Kubectl:       filepath.Join(dir, "kubectl"),
		Etcd:          filepath.Join(dir, "etcd"),
		Gatekeeper:    filepath.Join(dir, "gatekeeper-manager"),
		Helm:          filepath.Join(dir, "helm"),
	}
}

// check reports the binaries that are missing or not executable.
func (b *Binaries) check() error {
	var missing []string
	for _, name := range binaryNames {
		info, err := os.Stat(filepath.Join(b.Dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing in %s: %s", b.Dir, strings.Join(missing, ", "))
	}
	return nil
}

// build runs tools/k8s/build.sh into dir. The script holds a lock on
// dir+".lock" while it builds, so that test binaries of several packages,
// run in parallel by `go test ./...`, build once.
func build(root, dir string) error {
	fmt.Fprintf(os.Stderr, "testcluster: building the control plane's binaries into %s (tools/k8s/build.sh; ~10 minutes on a fresh machine)\n", dir)
	cmd := exec.Command("bash", filepath.Join(root, "tools", "k8s", "build.sh"), dir)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("tools/k8s/build.sh %s: %w\n%s", dir, err, tail(string(out), 40))
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
