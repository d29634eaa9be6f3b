package faults

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/azurekeyvault/kvtest"
)

// runVerify runs `ratify verify -s ref -c config` (the binary built from
// ./cmd/ratify) in env and returns its exit code and standard error.
func runVerify(t *testing.T, env []string, ref, config string, extra ...string) (int, string) {
	t.Helper()
	bin, err := testratify.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"verify", "-s", ref, "-c", config}, extra...)...)
	cmd.Env, cmd.Dir = env, t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit) && exit.Exited():
		if strings.Contains(stderr.String(), "panic:") || strings.Contains(stderr.String(), "goroutine ") {
			t.Fatalf("ratify panicked:\n%s", stderr.String())
		}
		return exit.ExitCode(), stderr.String()
	}
	t.Fatalf("ratify verify: %v\n%s", err, stderr.String())
	return 0, ""
}

// TestCLIExitCodes runs `ratify verify` against the faults: every one
// ends with exit code 2 ("no verdict could be reached", README.md) and a
// one-line reason with the hint of its errdef sentinel; never 0, and never
// 1 ("unsigned").
func TestCLIExitCodes(t *testing.T) {
	type run struct {
		ref, config string
		env         []string
		args        []string
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) run
		hint  string // of cmd/ratify's errors.go
	}{
		{"registry down", func(t *testing.T) run {
			f := newFixture(t, testregistry.Options{Referrers: true})
			return run{unusedAddr(t) + "/app/signed:v1", writeConfig(t, f.dir, baseConfig()), nil, nil}
		}, "check the registry address"},
		{"registry throttling (429, Retry-After 3600)", func(t *testing.T) run {
			f := newFixture(t, testregistry.Options{Referrers: true})
			f.reg.Inject(testregistry.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600"})
			return run{f.ref("app/signed", f.signed), writeConfig(t, f.dir, baseConfig()), nil, nil}
		}, "check the registry address"},
		{"registry slower than the deadline", func(t *testing.T) run {
			release := make(chan struct{})
			f := newFixture(t, testregistry.Options{Referrers: true, Handler: hangWhen(release, func(r *http.Request) bool {
				return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/referrers/")
			})})
			t.Cleanup(func() { close(release) })
			// The CLI's deadline is --timeout (executor.verificationRequestTimeout is the provider's).
			return run{f.ref("app/signed", f.signed), writeConfig(t, f.dir, baseConfig()), nil, []string{"--timeout", "500ms"}}
		}, "too slow"},
		{"envelope streamed to 100 MiB", func(t *testing.T) run {
			sw := &swapHandler{}
			f := newFixture(t, testregistry.Options{Referrers: true, Handler: sw.wrap})
			var sent atomic.Int64
			sw.set(onGet("/blobs/"+envelopeOf(f.signature).Digest.String(), func(w http.ResponseWriter, r *http.Request) {
				flood(w, "", "x", 100*mib, &sent)
			}))
			t.Cleanup(func() {
				if sent.Load() > 32*mib {
					t.Errorf("the registry sent %d bytes to the CLI", sent.Load())
				}
			})
			return run{f.ref("app/signed", f.signed), writeConfig(t, f.dir, baseConfig()), nil, nil}
		}, "malformed content"},
		{"referrers listing of 10,000", func(t *testing.T) run {
			f := newFixture(t, testregistry.Options{Referrers: true})
			descs := make([]ocispec.Descriptor, 10_000)
			for i := range descs {
				descs[i] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sigType,
					Digest: digestOf([]byte{byte(i), byte(i >> 8)}), Size: 100}
			}
			f.reg.Inject(testregistry.Fault{Kind: testregistry.KindReferrers, Header: http.Header{"Content-Type": {ocispec.MediaTypeImageIndex}},
				Body: indexOf(descs...)})
			return run{f.ref("app/signed", f.signed), writeConfig(t, f.dir, baseConfig()), nil, nil}
		}, "more than ratify accepts"},
		{"key vault down", func(t *testing.T) run {
			vault := kvtest.New()
			t.Cleanup(vault.Close)
			f := newFixture(t, testregistry.Options{Referrers: true})
			vault.AddSecret("ca", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(f.ca.Cert)))
			vault.SetDown(true)
			caFile, tokenFile := filepath.Join(f.dir, "local-ca.pem"), filepath.Join(f.dir, "token")
			for path, data := range map[string][]byte{caFile: vault.CertPEM(), tokenFile: []byte(vault.Assertion)} {
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := []string{"SSL_CERT_FILE=" + caFile, "AZURE_FEDERATED_TOKEN_FILE=" + tokenFile, "AZURE_AUTHORITY_HOST=" + vault.Entra.URL}
			return run{f.ref("app/signed", f.signed), writeConfig(t, f.dir, keyVaultConfig(vault, vault.Vault.URL)), env, nil}
		}, "trust material could not be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			r := tc.setup(t)
			code, stderr := runVerify(t, append(testratify.Env(t), r.env...), r.ref, r.config, r.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (no verdict):\n%s", code, stderr)
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines > 0 {
				t.Errorf("the reason is %d lines, want one:\n%s", lines+1, stderr)
			}
			if !strings.Contains(stderr, tc.hint) {
				t.Fatalf("stderr lacks the hint %q:\n%s", tc.hint, stderr)
			}
		})
	}
}
