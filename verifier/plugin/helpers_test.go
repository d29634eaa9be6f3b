package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
)

// The tests' plugin is testdata/fakeplugin, built once per test binary
// with the go toolchain into buildDir.
var (
	buildDir  string
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ratify-plugin-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakePlugin returns the path of the built test plugin.
func fakePlugin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		buildPath = filepath.Join(buildDir, "fakeplugin")
		cmd := exec.Command(goTool, "build", "-o", buildPath, "./testdata/fakeplugin")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// install copies the test plugin into a new directory of the test as
// name, with mode perm, and returns the directory.
func install(t testing.TB, name string, perm os.FileMode) string {
	t.Helper()
	src, err := os.Open(fakePlugin(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	dst, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, name), perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

// entry is a verifier entry of config.json for the test plugin.
func entry(t testing.TB, fields map[string]any) json.RawMessage {
	t.Helper()
	e := map[string]any{"name": "licensechecker", "artifactTypes": "application/vnd.ratify.spdx.v0"}
	for k, v := range fields {
		e[k] = v
	}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// newVerifier is a verifier running the test plugin, installed as
// "licensechecker", with behavior.
func newVerifier(t testing.TB, behavior string, opts Options) *Verifier {
	t.Helper()
	if opts.PluginBinDirs == nil {
		opts.PluginBinDirs = []string{install(t, "licensechecker", 0o755)}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	v, err := New(Config{Name: "licensechecker", ArtifactTypes: List{spdxType}, Entry: entry(t, map[string]any{"behavior": behavior})}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const spdxType = "application/vnd.ratify.spdx.v0"

var subject = ratify.Subject{
	Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "demo", Reference: "v1"},
	Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5},
}

var artifact = ocispec.Descriptor{
	MediaType:    ocispec.MediaTypeImageManifest,
	Digest:       digest.FromString("sbom manifest"),
	Size:         321,
	ArtifactType: spdxType,
}
