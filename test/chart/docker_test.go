package chart

import (
	"bufio"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the image's Dockerfile without a container engine:
// its final stage is distroless static running as the nonroot user 65532
// with /ratify as entrypoint, and its build command, run here on a copy of
// the build context that .dockerignore leaves, yields a static binary that
// reports the version it was given. The chart's pod security context
// (runAsUser 65532, runAsNonRoot) relies on that user.
func TestDockerfile(t *testing.T) {
	data := string(must(os.ReadFile(filepath.Join(moduleRoot(), "Dockerfile")))(t))
	var stages []string
	for _, line := range strings.Split(data, "\n") {
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, "")
		}
		if len(stages) > 0 {
			stages[len(stages)-1] += line + "\n"
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	final := stages[len(stages)-1]
	for _, want := range []string{"FROM gcr.io/distroless/static", ":nonroot\n", "\nUSER 65532", `ENTRYPOINT ["/ratify"]`} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q:\n%s", want, final)
		}
	}
	build := regexp.MustCompile(`CGO_ENABLED=0 .*\\\n\s*go build (.*) -o /out/ratify (\./cmd/ratify)`).FindStringSubmatch(stages[0])
	if build == nil || !strings.Contains(build[1], "-trimpath") || !strings.Contains(build[1], "-tags k8s") || !strings.Contains(build[1], "-X main.version=${VERSION}") {
		t.Fatalf("build stage: no `CGO_ENABLED=0 ... go build -tags k8s -trimpath -ldflags \"... -X main.version=${VERSION}\" -o /out/ratify ./cmd/ratify`:\n%s", stages[0])
	}

	ctx := t.TempDir()
	copyContext(t, moduleRoot(), ctx, readDockerignore(t))
	bin := filepath.Join(t.TempDir(), "ratify")
	cmd := exec.Command("go", "build", "-tags", "k8s", "-trimpath", "-ldflags", "-s -w -X main.version=v0.0.0-chart-test", "-o", bin, "./cmd/ratify")
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in the build context .dockerignore leaves: %v\n%s", err, out)
	}
	f := must(elf.Open(bin))(t)
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader; distroless static has none")
		}
	}
	out := must(exec.Command(bin, "version").Output())(t)
	if !strings.HasPrefix(string(out), "ratify v0.0.0-chart-test ") {
		t.Errorf("ratify version: %q", out)
	}
}

// readDockerignore returns the patterns of .dockerignore.
func readDockerignore(t *testing.T) []string {
	t.Helper()
	f := must(os.Open(filepath.Join(moduleRoot(), ".dockerignore")))(t)
	defer f.Close()
	var patterns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf(".dockerignore: exceptions (%s) are not handled by this test", line)
			}
			patterns = append(patterns, line)
		}
	}
	return patterns
}

// ignored reports whether .dockerignore's patterns exclude rel (a
// slash-separated path relative to the context), as Docker reads them: a
// pattern matches the whole path with filepath.Match, "**/" matching any
// number of leading directories.
func ignored(rel string, patterns []string) bool {
	for _, p := range patterns {
		if ok, _ := filepath.Match(p, rel); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(p, "**/"); ok {
			parts := strings.Split(rel, "/")
			for i := range parts {
				if ok, _ := filepath.Match(rest, strings.Join(parts[i:], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// copyContext copies the files of src that patterns do not exclude to dst.
func copyContext(t *testing.T, src, dst string, patterns []string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(must(filepath.Rel(src, path))(t))
		if rel == "." {
			return nil
		}
		if ignored(rel, patterns) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
