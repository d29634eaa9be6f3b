package admission

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testcluster"
)

// startDeadline bounds how long `ratify serve` may take to listen and report
// ready, and to exit once asked to. It only stops a hung process.
const startDeadline = 2 * time.Minute

// ratify is a running `ratify serve`, stopped when its test ends.
type ratify struct {
	// Addr is the provider listener's "127.0.0.1:PORT" (HTTPS).
	Addr string
	// CA issued ratify's serving certificate: the Provider's caBundle.
	CA *testcluster.CA

	cmd        *exec.Cmd
	healthAddr string
	log        lockedBuffer
	exited     chan struct{}
}

// startRatify runs `ratify serve -c config` on loopback ports, serving TLS
// 1.3 with a certificate for 127.0.0.1 from a CA of its own and requiring
// client certificates issued by clientCA (Gatekeeper's), plus args. It
// returns once /readyz answers 200.
func startRatify(t *testing.T, config, clientCA string, args ...string) *ratify {
	t.Helper()
	ca := must(testcluster.NewCA("ratify serving CA"))(t)
	certDir := t.TempDir()
	if err := ca.IssueServing(certDir, "127.0.0.1", "ratify.gatekeeper-system"); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"serve", "--http", "127.0.0.1:0", "--health-port", "127.0.0.1:0",
		"--metrics-port", "127.0.0.1:0", "-c", config, "--cert-dir", certDir, "--ca-cert-file", clientCA}, args...)
	return runRatify(t, ca, args, isolatedEnv(t))
}

// runRatify runs ratify with args and env, ca having issued the serving
// certificate args name. It returns once ratify has logged the addresses of
// its provider and health listeners and /readyz answers 200.
func runRatify(t *testing.T, ca *testcluster.CA, args, env []string) *ratify {
	t.Helper()
	r := &ratify{CA: ca, exited: make(chan struct{})}
	r.cmd = exec.Command(ratifyBin, args...)
	r.cmd.Env = env
	r.cmd.Dir = t.TempDir()
	stderr := must(r.cmd.StderrPipe())(t)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan [2]string, 8)
	go func() {
		r.scan(stderr, listening)
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.Stop(t)
		if t.Failed() {
			t.Logf("ratify serve log:\n%s", r.log.String())
		}
	})

	deadline := time.After(startDeadline)
	for r.Addr == "" || r.healthAddr == "" {
		select {
		case l := <-listening:
			switch l[0] {
			case "provider":
				r.Addr = l[1]
			case "health":
				r.healthAddr = l[1]
			}
		case <-r.exited:
			t.Fatalf("ratify %s exited before listening:\n%s", strings.Join(args, " "), r.log.String())
		case <-deadline:
			t.Fatalf("ratify did not log its provider and health listeners within %s:\n%s", startDeadline, r.log.String())
		}
	}
	r.waitReady(t)
	return r
}

// scan copies ratify's log (log/slog text) into r.log and sends the
// listener and address of each `msg=listening` line to listening.
func (r *ratify) scan(stderr io.Reader, listening chan<- [2]string) {
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		line := lines.Text()
		r.log.WriteString(line + "\n")
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
func (r *ratify) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	for {
		req := must(http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.healthAddr+"/readyz", nil))(t)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ratify's /readyz on %s never answered 200 (last: %v):\n%s", r.healthAddr, err, r.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop interrupts ratify and waits for it to exit, killing it if it has not
// within startDeadline. It signals only the process it started.
func (r *ratify) Stop(t *testing.T) {
	t.Helper()
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.exited:
	case <-time.After(startDeadline):
		_ = r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("ratify did not exit within %s of SIGINT", startDeadline)
	}
}

// lockedBuffer is a log one goroutine writes while another reads it.
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

// isolatedEnv returns the environment without what would let the user's own
// configuration (or a proxy) reach ratify, with a fresh HOME, XDG
// directories, RATIFY_CONFIG and DOCKER_CONFIG.
func isolatedEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HOME", "RATIFY_CONFIG", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
			"KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	home := t.TempDir()
	return append(env, "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "XDG_CACHE_HOME="+home+"/.cache",
		"RATIFY_CONFIG="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
}

// isExited tells whether ratify has exited.
func isExited(r *ratify) bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}
