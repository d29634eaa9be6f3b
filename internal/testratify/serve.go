package testratify

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
)

// StartDeadline bounds how long `ratify serve` may take to listen and report
// ready, and to exit once asked to. It is far above what a start needs, so
// that a busy machine never fails a test; it only stops a hung process.
const StartDeadline = 2 * time.Minute

// Server is a running `ratify serve`, stopped when its test ends. Its
// metrics listener's address is Metrics.
type Server struct {
	// Provider is the provider listener's "127.0.0.1:PORT".
	Provider string
	// Health is the health listener's "127.0.0.1:PORT" (HTTP: /readyz,
	// /livez).
	Health string

	cmd       *exec.Cmd
	exited    chan struct{} // closed once the process has exited
	mu        sync.Mutex
	log       strings.Builder
	listeners map[string]string // listener name to address, as logged
}

// Serve runs bin (a ratify binary) with args, which should start `ratify
// serve` on loopback ports, in an isolated environment (Env). It is
// ServeEnv(t, Env(t), bin, args...).
func Serve(t *testing.T, bin string, args ...string) *Server {
	t.Helper()
	return ServeEnv(t, Env(t), bin, args...)
}

// ServeEnv runs bin with args and env. It returns once ratify has logged
// the addresses of its provider and health listeners (log/slog text lines
// `msg=listening listener=NAME addr=ADDR`) and /readyz answers 200. When t
// ends it stops ratify and, if t failed, logs what ratify wrote.
func ServeEnv(t *testing.T, env []string, bin string, args ...string) *Server {
	t.Helper()
	s := &Server{exited: make(chan struct{}), listeners: map[string]string{}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	s.cmd.Dir = t.TempDir()
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{}, 8)
	go func() {
		s.scan(stderr, listening)
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("ratify serve log:\n%s", s.Log())
		}
	})

	deadline := time.After(StartDeadline)
	for s.Provider == "" || s.Health == "" {
		select {
		case <-listening:
			s.Provider, s.Health = s.listener("provider"), s.listener("health")
		case <-s.exited:
			t.Fatalf("ratify %s exited before listening:\n%s", strings.Join(args, " "), s.Log())
		case <-deadline:
			t.Fatalf("ratify did not log its provider and health listeners within %s:\n%s", StartDeadline, s.Log())
		}
	}
	s.waitReady(t)
	return s
}

// Metrics returns the metrics listener's "127.0.0.1:PORT". ratify logs its
// listeners one after the other as it starts them, so Metrics waits for the
// line; it fails t if ratify exits, or logs no metrics listener within
// StartDeadline (metrics are off).
func (s *Server) Metrics(t *testing.T) string {
	t.Helper()
	deadline := time.After(StartDeadline)
	for {
		if addr := s.listener("metrics"); addr != "" {
			return addr
		}
		select {
		case <-s.exited:
			t.Fatalf("ratify exited without logging a metrics listener:\n%s", s.Log())
		case <-deadline:
			t.Fatalf("ratify did not log a metrics listener within %s:\n%s", StartDeadline, s.Log())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Log returns what ratify has written to standard error so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Pid returns the process id of ratify.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Exited tells whether ratify has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Stop interrupts ratify and waits for it to exit, killing it and failing t
// if it has not within StartDeadline. It signals only the process it
// started, and does nothing once ratify has exited.
func (s *Server) Stop(t *testing.T) {
	t.Helper()
	if s.Exited() {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(StartDeadline):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("ratify did not exit within %s of SIGINT", StartDeadline)
	}
}

// listener returns the address ratify logged for the listener name.
func (s *Server) listener(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listeners[name]
}

// scan copies ratify's log (log/slog text format) into s.log, records the
// listener name and address of each `msg=listening` line and then tells
// listening.
func (s *Server) scan(r io.Reader, listening chan<- struct{}) {
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		line := lines.Text()
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = strings.Trim(v, `"`)
			}
		}
		s.mu.Lock()
		s.log.WriteString(line + "\n")
		isListening := fields["msg"] == "listening" && fields["listener"] != "" && fields["addr"] != ""
		if isListening {
			s.listeners[fields["listener"]] = fields["addr"]
		}
		s.mu.Unlock()
		if isListening {
			select {
			case listening <- struct{}{}:
			default:
			}
		}
	}
}

// waitReady polls /readyz until it answers 200.
func (s *Server) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartDeadline)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Health+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ratify's /readyz on %s never answered 200 (last: %v, %v):\n%s", s.Health, resp, err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
