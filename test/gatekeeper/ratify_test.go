package gatekeeper

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startDeadline bounds how long `ratify serve` may take to start listening
// and report ready. It is far above what a start needs, so that a busy
// machine never fails a test; it only stops a hung process.
const startDeadline = 2 * time.Minute

// ratifyServer is a running `ratify serve`, stopped when its test ends.
type ratifyServer struct {
	// Addr is the provider listener's "127.0.0.1:PORT" (HTTPS).
	Addr string
	// HealthAddr is the health listener's "127.0.0.1:PORT" (HTTP).
	HealthAddr string
	log        *lockedBuffer
}

// startRatify runs `ratify serve` on loopback ports with config, serving TLS
// with m's server certificate and requiring client certificates issued by
// m's CA, and result caching off (so that every review reaches the
// registry), plus args. It returns once /readyz answers 200.
func startRatify(t *testing.T, m *tlsMaterial, config string, args ...string) *ratifyServer {
	t.Helper()
	args = append([]string{"serve", "--http", "127.0.0.1:0", "--health-port", "127.0.0.1:0",
		"--metrics-port", "127.0.0.1:0", "-c", config, "--cert-dir", m.CertDir, "--ca-cert-file", m.CAFile,
		"--cache-enabled=false"}, args...)
	cmd := exec.Command(ratifyBin, args...)
	cmd.Env = isolatedEnv(t)
	cmd.Dir = t.TempDir()
	stderr := must(cmd.StderrPipe())(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &ratifyServer{log: &lockedBuffer{}}
	listening := make(chan [2]string, 4)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		s.scan(stderr, listening)
	}()
	exited := make(chan error, 1)
	go func() {
		<-scanned
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { s.stop(t, cmd, exited) })

	deadline := time.After(startDeadline)
	for s.Addr == "" || s.HealthAddr == "" {
		select {
		case l := <-listening:
			switch l[0] {
			case "provider":
				s.Addr = l[1]
			case "health":
				s.HealthAddr = l[1]
			}
		case err := <-exited:
			exited <- err
			t.Fatalf("ratify %s exited before listening: %v\n%s", strings.Join(args, " "), err, s.log)
		case <-deadline:
			t.Fatalf("ratify did not log its provider and health listeners within %s:\n%s", startDeadline, s.log)
		}
	}
	s.waitReady(t)
	return s
}

// scan copies ratify's log (log/slog text format) into s.log and sends the
// listener name and address of each `msg=listening` line to listening.
func (s *ratifyServer) scan(r io.Reader, listening chan<- [2]string) {
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		line := lines.Text()
		s.log.WriteString(line + "\n")
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = strings.Trim(v, `"`)
			}
		}
		if fields["msg"] == "listening" && fields["listener"] != "" && fields["addr"] != "" {
			select {
			case listening <- [2]string{fields["listener"], fields["addr"]}:
			default:
			}
		}
	}
}

// waitReady polls /readyz until it answers 200.
func (s *ratifyServer) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	for {
		req := must(http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HealthAddr+"/readyz", nil))(t)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/readyz on %s never answered 200 (last: %v, %v):\n%s", s.HealthAddr, resp, err, s.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop interrupts ratify, kills it if it has not exited within a minute, and
// logs what it wrote when the test failed.
func (s *ratifyServer) stop(t *testing.T, cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-exited
	}
	if t.Failed() {
		t.Logf("ratify serve log:\n%s", s.log)
	}
}

// lockedBuffer is a log that one goroutine writes while another reads it.
type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sb.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

// isolatedEnv returns the current environment without the variables that
// would let the user's own configuration (or a proxy) reach ratify, and with
// a fresh HOME, XDG directories, RATIFY_CONFIG and DOCKER_CONFIG.
func isolatedEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HOME", "RATIFY_CONFIG", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
			"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	home := t.TempDir()
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_CACHE_HOME="+home+"/.cache",
		"RATIFY_CONFIG="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
}

// writeConfig writes a config.json that verifies Notary Project signatures
// chaining to the root CA in caPEM (one "any" rule), reading registries over
// plain HTTP, with verificationRequestTimeout timeoutMS, and returns its
// path.
func writeConfig(t *testing.T, caPEM []byte, timeoutMS int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "certs", "root.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	const notation = "application/vnd.cncf.notary.signature"
	cfg := map[string]any{
		"store": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{"name": "oras", "useHttp": true}}},
		"policy": map[string]any{"version": "1.0.0", "plugin": map[string]any{
			"name": "configPolicy", "artifactVerificationPolicies": map[string]string{notation: "any"}}},
		"verifier": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{
			"name": "notation", "artifactTypes": notation, "verificationCerts": []string{"certs"},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name": "gatekeeper", "registryScopes": []string{"*"},
				"signatureVerification": map[string]string{"level": "strict"},
				"trustStores":           []string{"ca:certs"}, "trustedIdentities": []string{"*"},
			}}},
		}}},
		"executor": map[string]int{"verificationRequestTimeout": timeoutMS, "mutationRequestTimeout": timeoutMS},
		"crl":      map[string]any{"cache": map[string]bool{"enabled": false}},
	}
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, must(json.MarshalIndent(cfg, "", "  "))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
