package testratify

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvCosign names the environment variable that points at a built cosign
// CLI (the Makefile sets it, mk/cosign.mk, and builds the binary).
const EnvCosign = "RATIFY_TEST_COSIGN"

// CosignTimeout bounds one run of the cosign CLI. It is far above what a
// signature against a loopback registry needs; it only stops a hung process.
const CosignTimeout = 5 * time.Minute

// cosignModule is the package tools/cosign/go.mod pins.
const cosignModule = "github.com/sigstore/cosign/v2"

// cosignCLI caches CosignCLI for the process.
var cosignCLI = sync.OnceValues(findCosign)

// CosignCLI returns the path of the cosign CLI: $RATIFY_TEST_COSIGN when set
// (it must exist), else <root>/.cache/bin/cosign built from tools/cosign/go.mod
// (the version the Makefile pins) as the Makefile builds it. It is computed
// once per process.
func CosignCLI() (string, error) { return cosignCLI() }

func findCosign() (string, error) {
	if path := os.Getenv(EnvCosign); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w (build it with `make tools`, or unset the variable to have the tests build it)", EnvCosign, path, err)
		}
		return path, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "tools", "cosign")
	version, err := exec.Command("go", "-C", dir, "list", "-m", "-f", "{{.Version}}", cosignModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s (in %s): %w", cosignModule, dir, err)
	}
	ldflags := "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=" + strings.TrimSpace(string(version))
	path := filepath.Join(root, ".cache", "bin", "cosign")
	if err := goBuild(dir, path, cosignModule+"/cmd/cosign", "-trimpath", "-ldflags", ldflags); err != nil {
		return "", fmt.Errorf("build the cosign CLI from tools/cosign/go.mod: %w", err)
	}
	return path, nil
}

// CosignForm is one of the ways cosign stores a signature in a registry.
type CosignForm int

const (
	// CosignTag is cosign's default: a simple signing payload
	// (application/vnd.dev.cosign.simplesigning.v1+json) in an image
	// manifest tagged sha256-<hex>.sig, its signature in the layer's
	// dev.cosignproject.cosign/signature annotation.
	CosignTag CosignForm = iota
	// CosignReferrer is the same manifest attached to the image as an OCI
	// image-spec v1.1 referrer (artifactType
	// application/vnd.dev.cosign.artifact.sig.v1+json) instead of tagged:
	// `--registry-referrers-mode=oci-1-1` with COSIGN_EXPERIMENTAL=1.
	CosignReferrer
	// CosignBundle is a Sigstore bundle v0.3 whose DSSE envelope signs an
	// in-toto statement about the image, attached as an OCI image-spec v1.1
	// referrer: `--new-bundle-format`.
	CosignBundle
)

func (f CosignForm) String() string {
	switch f {
	case CosignTag:
		return "tag"
	case CosignReferrer:
		return "referrer"
	case CosignBundle:
		return "bundle"
	}
	return fmt.Sprintf("CosignForm(%d)", int(f))
}

// signFlags and verifyFlags are the flags that choose the form.
func (f CosignForm) signFlags() []string {
	switch f {
	case CosignReferrer:
		return []string{"--registry-referrers-mode=oci-1-1"}
	case CosignBundle:
		return []string{"--new-bundle-format", "--use-signing-config=false"}
	}
	return nil
}

func (f CosignForm) verifyFlags() []string {
	switch f {
	case CosignReferrer:
		return []string{"--experimental-oci11"}
	case CosignBundle:
		return []string{"--new-bundle-format"}
	}
	return nil
}

// Cosign drives the cosign CLI offline: in an isolated environment (Env)
// with its own TUF cache directory, no transparency log upload or check,
// a trusted root that trusts nothing (so that verification never fetches
// Sigstore's through TUF) and every proxied request sent to a loopback
// trap. Registries must be on loopback, which Go never proxies; any other
// HTTP request cosign makes reaches the trap, is refused, and fails the
// helper that ran it (see CosignRun.Egress).
type Cosign struct {
	t           *testing.T
	bin         string
	env         []string
	home        string
	trustedRoot string
	trap        *egressTrap
}

// CosignPassword encrypts the private keys that GenerateKeyPair writes.
const CosignPassword = "ratify-test"

// CosignKey is a key pair that `cosign generate-key-pair` wrote: an
// encrypted private key (PEM "ENCRYPTED SIGSTORE PRIVATE KEY", password
// CosignPassword) and its public key (PEM "PUBLIC KEY", ECDSA P-256).
type CosignKey struct {
	Private, Public string // file paths
}

// emptyTrustedRoot is a Sigstore TrustedRoot (protobuf-specs
// dev.sigstore.trustedroot.v1) with no authority, log or timestamp
// authority in it: verification with a key needs none, but cosign asks TUF
// for Sigstore's public one unless given a file.
const emptyTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`

// NewCosign returns the cosign CLI bin (see CosignCLI) set up to run
// offline.
func NewCosign(t *testing.T, bin string) *Cosign {
	t.Helper()
	env, home := isolated(t)
	env = slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(strings.ToUpper(kv), "=")
		return strings.HasPrefix(name, "COSIGN_") || strings.HasPrefix(name, "SIGSTORE_") ||
			strings.HasPrefix(name, "TUF_") || strings.HasPrefix(name, "ACTIONS_ID_TOKEN_")
	})
	c := &Cosign{t: t, bin: bin, home: home, trap: newEgressTrap(t)}
	c.trustedRoot = filepath.Join(home, "trusted_root.json")
	if err := os.WriteFile(c.trustedRoot, []byte(emptyTrustedRoot), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env = append(env,
		"TUF_ROOT="+filepath.Join(home, ".sigstore", "root"),
		"COSIGN_PASSWORD="+CosignPassword,
		"HTTP_PROXY="+c.trap.url, "HTTPS_PROXY="+c.trap.url,
		"http_proxy="+c.trap.url, "https_proxy="+c.trap.url,
	)
	return c
}

// TrustedRoot returns the path of the empty trusted root that Verify passes
// with --trusted-root.
func (c *Cosign) TrustedRoot() string { return c.trustedRoot }

// CosignRun is what one run of the CLI did.
type CosignRun struct {
	Args           []string
	Stdout, Stderr string
	Err            error
	// Egress lists the requests ("CONNECT host:443") that cosign sent
	// through the proxy during the run: any attempt to leave loopback.
	Egress []string
}

func (r CosignRun) String() string {
	return fmt.Sprintf("`cosign %s`: %v\n--- stdout:\n%s\n--- stderr:\n%s",
		strings.Join(r.Args, " "), r.Err, r.Stdout, r.Stderr)
}

// Run runs `cosign args...` with extra appended to the environment and
// returns what it did; it never fails the test. Egress is told apart by
// order, so the runs of one Cosign should not overlap (use one per test).
func (c *Cosign) Run(extra []string, args ...string) CosignRun {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CosignTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(slices.Clip(c.env), extra...)
	cmd.Dir = c.home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := c.trap.count()
	err := cmd.Run()
	return CosignRun{Args: args, Stdout: stdout.String(), Stderr: stderr.String(), Err: err, Egress: c.trap.since(before)}
}

// must fails the test unless r exited 0 without trying to leave loopback.
func (c *Cosign) must(r CosignRun) CosignRun {
	c.t.Helper()
	switch {
	case r.Err != nil:
		c.t.Fatalf("cosign failed: %s", r)
	case len(r.Egress) > 0:
		c.t.Fatalf("cosign tried to leave loopback (%s): %s", strings.Join(r.Egress, ", "), r)
	}
	return r
}

// GenerateKeyPair runs `cosign generate-key-pair` (password CosignPassword
// from COSIGN_PASSWORD, no prompt) and returns the files it wrote,
// <home>/keys/NAME.key and NAME.pub.
func (c *Cosign) GenerateKeyPair(name string) CosignKey {
	c.t.Helper()
	dir := filepath.Join(c.home, "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	prefix := filepath.Join(dir, name)
	c.must(c.Run(nil, "generate-key-pair", "--output-key-prefix", prefix))
	return CosignKey{Private: prefix + ".key", Public: prefix + ".pub"}
}

// Sign runs `cosign sign --yes --allow-http-registry --tlog-upload=false
// [form's flags] [flags] --key KEY REF` and fails the test unless it exits 0
// without leaving loopback. It returns what the CLI wrote to standard
// error (cosign reports there). ref must name a digest.
func (c *Cosign) Sign(key CosignKey, ref string, form CosignForm, flags ...string) string {
	c.t.Helper()
	var extra []string
	if form == CosignReferrer {
		extra = []string{"COSIGN_EXPERIMENTAL=1"}
	}
	args := append([]string{"sign", "--yes", "--allow-http-registry", "--tlog-upload=false"}, form.signFlags()...)
	args = append(append(args, flags...), "--key", key.Private, ref)
	return c.must(c.Run(extra, args...)).Stderr
}

// VerifyArgs returns the arguments of `cosign verify` that Verify runs:
// `verify --allow-http-registry --insecure-ignore-tlog=true --offline=true
// --trusted-root EMPTY [form's flags] --key PUB REF`.
func (c *Cosign) VerifyArgs(key CosignKey, ref string, form CosignForm) []string {
	args := []string{"verify", "--allow-http-registry", "--insecure-ignore-tlog=true", "--offline=true",
		"--trusted-root", c.trustedRoot}
	args = append(args, form.verifyFlags()...)
	return append(args, "--key", key.Public, ref)
}

// Verify runs `cosign verify` (VerifyArgs) and returns the run, failing the
// test only if cosign tried to leave loopback: a verification that fails is
// a result (Err set, the reason on Stderr).
func (c *Cosign) Verify(key CosignKey, ref string, form CosignForm) CosignRun {
	c.t.Helper()
	r := c.Run(nil, c.VerifyArgs(key, ref, form)...)
	if len(r.Egress) > 0 {
		c.t.Fatalf("cosign tried to leave loopback (%s): %s", strings.Join(r.Egress, ", "), r)
	}
	return r
}

// egressTrap is an HTTP proxy on loopback that refuses every request and
// records it: cosign's proxy, so that a request meant for anywhere but a
// loopback registry never leaves the machine and is seen. It sees what goes
// through Go's http.ProxyFromEnvironment (every HTTP client cosign uses for
// TUF, Rekor, Fulcio and registries); a connection made without a proxy
// would not pass through it.
type egressTrap struct {
	url string
	mu  sync.Mutex
	log []string
}

func newEgressTrap(t testing.TB) *egressTrap {
	e := &egressTrap{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.log = append(e.log, r.Method+" "+r.Host)
		e.mu.Unlock()
		http.Error(w, "testratify: cosign must not leave loopback", http.StatusForbidden)
	}))
	t.Cleanup(s.Close)
	e.url = s.URL
	return e
}

func (e *egressTrap) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.log)
}

func (e *egressTrap) since(n int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log[n:])
}
