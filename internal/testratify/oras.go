package testratify

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// EnvOras names the environment variable that points at a built oras CLI
// (the Makefile sets it, mk/oras.mk, and builds the binary).
const EnvOras = "RATIFY_TEST_ORAS"

// OrasTimeout bounds one run of the oras CLI. It is far above what an
// attach to a loopback registry needs; it only stops a hung process.
const OrasTimeout = 5 * time.Minute

// orasModule is the module tools/oras/go.mod pins.
const orasModule = "oras.land/oras"

// orasCLI caches OrasCLI for the process.
var orasCLI = sync.OnceValues(findOras)

// OrasCLI returns the path of the oras CLI: $RATIFY_TEST_ORAS when set (it
// must exist), else <root>/.cache/bin/oras built from tools/oras/go.mod (the
// version the Makefile pins) as the Makefile builds it. It is computed once
// per process.
func OrasCLI() (string, error) { return orasCLI() }

func findOras() (string, error) {
	if path := os.Getenv(EnvOras); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w (build it with `make tools`, or unset the variable to have the tests build it)", EnvOras, path, err)
		}
		return path, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, ".cache", "bin", "oras")
	if err := goBuild(filepath.Join(root, "tools", "oras"), path, orasModule+"/cmd/oras", "-trimpath", "-ldflags", "-s -w"); err != nil {
		return "", fmt.Errorf("build the oras CLI from tools/oras/go.mod: %w", err)
	}
	return path, nil
}

// DistributionSpec is how `oras attach` links an artifact to its subject
// (its --distribution-spec flag): both push an OCI image manifest whose
// subject field names the subject (OCI image-spec v1.1).
type DistributionSpec string

const (
	// ReferrersAPI leaves indexing the artifact to the registry's OCI
	// distribution-spec v1.1 referrers API. oras does not check that the
	// registry has one: on a registry without it, the artifact is pushed
	// but no referrers listing finds it.
	ReferrersAPI DistributionSpec = "v1.1-referrers-api"
	// ReferrersTag also maintains the referrers tag schema's index
	// (tagged sha256-<hex> after the subject's digest), for registries
	// without the referrers API.
	ReferrersTag DistributionSpec = "v1.1-referrers-tag"
)

// Oras drives the oras CLI offline: in an isolated environment (Env) with
// no registry credentials and every proxied request sent to a loopback
// trap. Registries must be on loopback, which Go never proxies, and speak
// plain HTTP (every command gets --plain-http); any other HTTP request oras
// makes reaches the trap, is refused, and fails the helper that ran it.
type Oras struct {
	t    *testing.T
	bin  string
	env  []string
	home string
	trap *egressTrap
}

// NewOras returns the oras CLI bin (see OrasCLI) set up to run offline.
func NewOras(t *testing.T, bin string) *Oras {
	t.Helper()
	env, home := isolated(t)
	env = slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(strings.ToUpper(kv), "=")
		return strings.HasPrefix(name, "ORAS_")
	})
	o := &Oras{t: t, bin: bin, home: home, trap: newEgressTrap(t)}
	o.env = append(env,
		"HTTP_PROXY="+o.trap.url, "HTTPS_PROXY="+o.trap.url,
		"http_proxy="+o.trap.url, "https_proxy="+o.trap.url,
	)
	return o
}

// OrasRun is what one run of the CLI did.
type OrasRun struct {
	Args           []string
	Stdout, Stderr string
	Err            error
	// Egress lists the requests that oras sent through the proxy during
	// the run: any attempt to leave loopback.
	Egress []string
}

func (r OrasRun) String() string {
	return fmt.Sprintf("`oras %s`: %v\n--- stdout:\n%s\n--- stderr:\n%s",
		strings.Join(r.Args, " "), r.Err, r.Stdout, r.Stderr)
}

// Run runs `oras args...` in dir (the home directory when empty) and
// returns what it did; it never fails the test. Egress is told apart by
// order, so the runs of one Oras should not overlap (use one per test).
func (o *Oras) Run(dir string, args ...string) OrasRun {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), OrasTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, args...)
	cmd.Env = o.env
	cmd.Dir = cmp.Or(dir, o.home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := o.trap.count()
	err := cmd.Run()
	return OrasRun{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Err: err, Egress: o.trap.since(before)}
}

// must fails the test unless r exited 0 without trying to leave loopback.
func (o *Oras) must(r OrasRun) OrasRun {
	o.t.Helper()
	switch {
	case r.Err != nil:
		o.t.Fatalf("oras failed: %s", r)
	case len(r.Egress) > 0:
		o.t.Fatalf("oras tried to leave loopback (%s): %s", strings.Join(r.Egress, ", "), r)
	}
	return r
}

// Attachment is a file to attach to a subject, as `oras attach` takes it.
type Attachment struct {
	// ArtifactType is the manifest's artifactType (--artifact-type),
	// required.
	ArtifactType string
	// File is the path of the file that becomes the manifest's one layer;
	// its base name is the layer's org.opencontainers.image.title. It must
	// not contain ':'.
	File string
	// MediaType is the layer's media type; empty means oras's default for
	// files, application/vnd.oci.image.layer.v1.tar (the file's bytes as
	// they are, not a tar archive).
	MediaType string
	// Annotations are added to the manifest (--annotation). Without
	// org.opencontainers.image.created, oras sets it to the current time.
	Annotations map[string]string
	// Spec chooses how the artifact is linked to its subject; empty means
	// ReferrersAPI.
	Spec DistributionSpec
}

// AttachArgs returns the arguments of `oras attach` that Attach runs:
// `attach --plain-http --distribution-spec SPEC --artifact-type TYPE
// [--annotation K=V]... --format json REF FILE[:MEDIATYPE]`, with FILE the
// base name of a.File (the run's directory is the file's).
func AttachArgs(ref string, a Attachment) []string {
	args := []string{"attach", "--plain-http", "--distribution-spec", string(cmp.Or(a.Spec, ReferrersAPI)),
		"--artifact-type", a.ArtifactType}
	for _, k := range slices.Sorted(maps.Keys(a.Annotations)) {
		args = append(args, "--annotation", k+"="+a.Annotations[k])
	}
	file := filepath.Base(a.File)
	if a.MediaType != "" {
		file += ":" + a.MediaType
	}
	return append(args, "--format", "json", ref, file)
}

// Attach runs `oras attach` (AttachArgs) to attach a.File to the manifest
// that ref names, on a plain-HTTP loopback registry, and fails the test
// unless it succeeds without leaving loopback. It returns the descriptor
// of the artifact manifest oras pushed, as its JSON output reports it
// (media type, digest, size, artifactType and annotations).
func (o *Oras) Attach(ref string, a Attachment) ocispec.Descriptor {
	o.t.Helper()
	if a.ArtifactType == "" || a.File == "" || strings.Contains(filepath.Base(a.File), ":") {
		o.t.Fatalf("testratify: Attach needs an artifact type and a file whose name has no ':', got %+v", a)
	}
	r := o.must(o.Run(filepath.Dir(a.File), AttachArgs(ref, a)...))
	var out struct {
		Reference string `json:"reference"`
		ocispec.Descriptor
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		o.t.Fatalf("oras attach output: %v: %s", err, r)
	}
	if out.Digest.Validate() != nil || out.Size <= 0 || !strings.HasSuffix(out.Reference, "@"+out.Digest.String()) {
		o.t.Fatalf("oras attach reported no pushed manifest: %s", r)
	}
	return out.Descriptor
}

// Discover runs `oras discover --plain-http --distribution-spec SPEC
// --format json REF` and returns the direct referrers of ref that oras
// lists (with their artifact types and annotations), failing the test
// unless oras succeeds without leaving loopback.
func (o *Oras) Discover(ref string, spec DistributionSpec) []ocispec.Descriptor {
	o.t.Helper()
	r := o.must(o.Run("", "discover", "--plain-http", "--distribution-spec", string(cmp.Or(spec, ReferrersAPI)),
		"--format", "json", ref))
	var root struct {
		Referrers []ocispec.Descriptor `json:"referrers"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &root); err != nil {
		o.t.Fatalf("oras discover output: %v: %s", err, r)
	}
	return root.Referrers
}
