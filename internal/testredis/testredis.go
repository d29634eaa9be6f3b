// Package testredis runs a real Redis server (Debian's redis-server) for
// one test: on a free loopback port, in a temporary directory, with no
// persistence, over plain TCP or TLS (NewTLS), stopped when the test ends.
// Tests that share verification results through cache/redis use it.
//
// The server is $RATIFY_TEST_REDIS when set (mk/redis.mk sets it), else
// redis-server on $PATH. It never skips: a missing server fails the test
// with how to install it.
package testredis

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// EnvRedis names the environment variable that points at redis-server.
const EnvRedis = "RATIFY_TEST_REDIS"

// StartDeadline bounds how long redis-server may take to accept
// connections, and to exit once asked to. It is far above what it needs, so
// that a busy machine never fails a test; it only stops a hung process.
const StartDeadline = time.Minute

// Options configure a server. The zero value needs no password and speaks
// plain TCP.
type Options struct {
	// Password, when set, is required of clients (requirepass).
	Password string
	// TLS, when set, makes the server speak TLS only, with these files
	// (NewTLS makes them); clients need no certificate of their own.
	TLS *TLSFiles
}

// Server is a running redis-server.
type Server struct {
	// Addr is "127.0.0.1:PORT".
	Addr string

	bin  string
	dir  string
	opts Options

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *strings.Builder
	stopped bool
}

// Binary returns the path of redis-server: $RATIFY_TEST_REDIS when set (it
// must exist), else redis-server found on $PATH.
func Binary() (string, error) {
	if path := os.Getenv(EnvRedis); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w (install Debian's redis-server, or unset the variable to use the one on $PATH)", EnvRedis, path, err)
		}
		return path, nil
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server is not installed: `apt-get update && apt-get install -y redis-server` (Debian), or set %s to its path: %w", EnvRedis, err)
	}
	return path, nil
}

// Start runs redis-server on a free loopback port and stops it when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: t.TempDir(), opts: opts}
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("redis-server log:\n%s", s.Log())
		}
	})
	// Another process may take the port between our probe and the
	// server's bind; redis-server then exits at once and we try another.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(port); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// Restart starts the server again on the same port after Stop (its data is
// gone: there is no persistence).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	if err := s.start(port); err != nil {
		t.Fatalf("redis-server did not restart on %s: %v", s.Addr, err)
	}
}

func (s *Server) start(port string) error {
	args := []string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", "", "--databases", "1", "--loglevel", "notice",
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	if f := s.opts.TLS; f != nil {
		args[1] = "0" // no plain TCP
		args = append(args, "--tls-port", port, "--tls-cert-file", f.CertFile, "--tls-key-file", f.KeyFile,
			"--tls-ca-cert-file", f.CAFile, "--tls-auth-clients", "no")
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	log := &strings.Builder{}
	ready, exited := make(chan struct{}), make(chan struct{})
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		scan(stdout, log, &s.mu, ready)
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited, s.log, s.stopped = cmd, exited, log, false
	s.Addr = net.JoinHostPort("127.0.0.1", port)
	s.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-exited:
		return fmt.Errorf("redis-server exited on port %s:\n%s", port, s.Log())
	case <-time.After(StartDeadline):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server did not accept connections within %s:\n%s", StartDeadline, s.Log())
	}
}

// scan copies redis-server's log into log, telling ready when the server
// accepts connections.
func scan(r io.Reader, log *strings.Builder, mu *sync.Mutex, ready chan<- struct{}) {
	lines := bufio.NewScanner(r)
	told := false
	for lines.Scan() {
		mu.Lock()
		log.WriteString(lines.Text() + "\n")
		mu.Unlock()
		if !told && strings.Contains(lines.Text(), "Ready to accept connections") {
			close(ready)
			told = true
		}
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after StartDeadline) and
// waits for it to exit. It does nothing once the server is stopped; it
// signals only the process it started.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	cmd, exited, stopped := s.cmd, s.exited, s.stopped
	s.stopped = true
	s.mu.Unlock()
	if cmd == nil || stopped {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(StartDeadline):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("redis-server did not exit within %s of SIGINT", StartDeadline)
	}
}

// Log returns what the server has logged since it last started.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// Client returns a go-redis client of the server (trusting Options.TLS's
// CA when the server speaks TLS), closed when t ends. Tests use it to read
// and rewrite what the code under test stored, without going through that
// code.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	var tlsConfig *tls.Config
	if s.opts.TLS != nil {
		tlsConfig = s.opts.TLS.Config(t)
	}
	c := redis.NewClient(&redis.Options{
		Addr: s.Addr, Password: s.opts.Password, Protocol: 2, DisableIdentity: true, TLSConfig: tlsConfig,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}
