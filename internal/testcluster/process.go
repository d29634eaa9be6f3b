package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// pollInterval is how often readiness is probed.
const pollInterval = 100 * time.Millisecond

// process is one program the cluster started, its output going to a log
// file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once the process has exited
	waitErr error         // how it exited; set before exited is closed
}

// startProcess starts bin with args and env (added to the test's
// environment), its standard output and error written to logPath (truncated first). The
// process is killed if the test process dies first (Linux parent-death
// signal), so that a crashed test leaves nothing running.
func startProcess(name, logPath string, env []string, bin string, args ...string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls probe until it succeeds, the process exits or ctx ends.
func (p *process) waitReady(ctx context.Context, probe func(context.Context) error) error {
	var last error
	for {
		if last = probe(ctx); last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", p.name, p.waitErr, p.logTail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last probe: %v); its log ends:\n%s", p.name, ctx.Err(), last, p.logTail(30))
		case <-time.After(pollInterval):
		}
	}
}

// portTaken tells whether the process exited because an address it was
// told to listen on was already in use.
func (p *process) portTaken() bool {
	select {
	case <-p.exited:
		return strings.Contains(p.logTail(200), "address already in use")
	default:
		return false
	}
}

// stop sends the process SIGTERM, and SIGKILL if it has not exited within
// grace, then waits for it. It signals only this process, by its PID.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail returns the last n lines of the process's log.
func (p *process) logTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	return tail(string(data), n)
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 at the time of
// the call. Another program may take one before it is used: callers retry
// with new ports (see startOnFreePorts).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startOnFreePorts calls start with n free loopback ports; when the process
// it started exits because one of them was taken in the meantime, it tries
// again with new ports, up to five times. start returns the process it
// started (possibly already exited) and whether it became ready.
func startOnFreePorts(n int, start func(ports []int) (*process, error)) (*process, error) {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(n)
		if err != nil {
			return nil, err
		}
		p, err := start(ports)
		if err == nil {
			return p, nil
		}
		if p == nil || !p.portTaken() || attempt == 5 {
			if p != nil {
				p.stop(0)
			}
			return nil, err
		}
	}
}

// errNotYet is a probe's answer while a condition does not hold yet.
var errNotYet = errors.New("not yet")
