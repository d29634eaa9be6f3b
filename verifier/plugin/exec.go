package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openratify/ratify/errdef"
)

const (
	// waitDelay is how long the output pipes stay open after the plugin
	// exits (or is killed), for a child it left behind that holds them.
	waitDelay = time.Second
	// startAttempts bounds the tries to start an executable that is busy
	// being written (ETXTBSY), which v1 retried too.
	startAttempts = 3
)

var (
	errPluginTimeout = errors.New("plugin timeout")
	errOutputLimit   = errors.New("plugin output limit")
)

// run runs the plugin once with input on its standard input and the
// protocol's environment for subject, and returns its standard output.
// The plugin runs in its own process group, which is killed when the
// timeout, the caller's context or the output limit stops it.
func (v *Verifier) run(ctx context.Context, subject string, input []byte) ([]byte, error) {
	if err := checkExecutable(v.path); err != nil {
		return nil, err
	}
	tctx, cancelTimeout := context.WithTimeoutCause(ctx, v.timeout, errPluginTimeout)
	defer cancelTimeout()
	rctx, stop := context.WithCancelCause(tctx)
	defer stop(nil)
	stdout := &limitedBuffer{limit: v.maxOutput, overflow: func() { stop(errOutputLimit) }}
	stderr := &limitedBuffer{limit: v.maxStderr}

	cmd, err := v.start(rctx, subject, input, stdout, stderr)
	if err != nil {
		return nil, err
	}
	waitErr := cmd.Wait()
	if errors.Is(waitErr, exec.ErrWaitDelay) {
		// The plugin left a process holding its output: end its group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	v.logLines(stderr.Bytes(), "stderr")
	if stderr.dropped > 0 {
		v.log.Warn("plugin standard error truncated", "droppedBytes", stderr.dropped)
	}

	switch cause := context.Cause(rctx); {
	case stdout.overflowed():
		return nil, fmt.Errorf("plugin %s wrote more than %d bytes to standard output; killed: %w", v.path, v.maxOutput, errdef.ErrSizeExceedsLimit)
	case errors.Is(cause, errPluginTimeout):
		return nil, fmt.Errorf("plugin %s did not answer within %s; killed: %w: %w", v.path, v.timeout, errdef.ErrTimeout, context.DeadlineExceeded)
	case errors.Is(cause, context.DeadlineExceeded):
		return nil, fmt.Errorf("plugin %s was killed when the verification deadline expired: %w: %w", v.path, errdef.ErrTimeout, cause)
	case cause != nil:
		return nil, fmt.Errorf("plugin %s was killed: %w", v.path, cause)
	}
	if waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return nil, v.exitError(waitErr, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// start starts the plugin, trying again a few times while its executable
// is busy (ETXTBSY: a process still has it open for writing).
func (v *Verifier) start(ctx context.Context, subject string, input []byte, stdout, stderr *limitedBuffer) (*exec.Cmd, error) {
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, v.path) // an absolute path: no PATH lookup, no shell
		cmd.Env = v.environment(subject)
		cmd.Stdin = bytes.NewReader(input)
		cmd.Stdout = stdout
		cmd.Stderr = stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error {
			// The whole group: the plugin and any process it started.
			err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			if errors.Is(err, syscall.ESRCH) {
				return os.ErrProcessDone
			}
			return err
		}
		cmd.WaitDelay = waitDelay
		err := cmd.Start()
		if err == nil {
			return cmd, nil
		}
		if !errors.Is(err, syscall.ETXTBSY) || attempt == startAttempts {
			return nil, fmt.Errorf("start plugin %s: %w", v.path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("start plugin %s: %w", v.path, context.Cause(ctx))
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		}
	}
}

// environment is the plugin's environment: the configured (or ratify's)
// environment with the protocol's variables set.
func (v *Verifier) environment(subject string) []string {
	base := v.environ
	if base == nil {
		base = os.Environ()
	}
	env := make([]string, 0, len(base)+3)
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if name == EnvCommand || name == EnvSubject || name == EnvVersion {
			continue
		}
		env = append(env, kv)
	}
	return append(env, EnvCommand+"="+CommandVerify, EnvSubject+"="+subject, EnvVersion+"="+v.version)
}

// exitError describes a plugin that exited with an error: the error it
// wrote (Error), or its exit status and the end of its standard error.
func (v *Verifier) exitError(waitErr error, stdout, stderr []byte) error {
	if obj, logs, err := parseOutput(stdout); err == nil {
		v.logLines([]byte(strings.Join(logs, "\n")), "stdout")
		if perr, err := decodeError(obj); err == nil {
			return fmt.Errorf("plugin %s: %w (%v)", v.path, perr, waitErr)
		}
	}
	detail := lastLine(stderr)
	if detail == "" {
		detail = lastLine(stdout)
	}
	if detail != "" {
		return fmt.Errorf("plugin %s failed: %v: %s", v.path, waitErr, detail)
	}
	return fmt.Errorf("plugin %s failed: %v", v.path, waitErr)
}

// lastLine is the last non-empty line of b, shortened to 512 bytes.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	s := strings.TrimSpace(lines[len(lines)-1])
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// logLines logs what a plugin wrote besides its result, line by line, at
// the level a v1-style "info:", "warn:" or "debug:" prefix names.
func (v *Verifier) logLines(b []byte, stream string) {
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.ToValidUTF8(strings.TrimSpace(line), "?")
		if line == "" {
			continue
		}
		lower := strings.ToLower(line)
		switch {
		case strings.HasPrefix(lower, "debug:"):
			v.log.Debug(strings.TrimSpace(line[len("debug:"):]), "stream", stream)
		case strings.HasPrefix(lower, "warn:"):
			v.log.Warn(strings.TrimSpace(line[len("warn:"):]), "stream", stream)
		case strings.HasPrefix(lower, "info:"):
			v.log.Info(strings.TrimSpace(line[len("info:"):]), "stream", stream)
		default:
			v.log.Info(line, "stream", stream)
		}
	}
}

// limitedBuffer keeps the first limit bytes written to it. Past the
// limit, it calls overflow (once) and fails the write when overflow is
// set (standard output: the plugin is stopped), or reads and drops the
// rest (standard error), so that the plugin never blocks on a full pipe.
type limitedBuffer struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	limit    int64
	dropped  int64
	overflow func()
	over     bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.limit - int64(b.buf.Len())
	if int64(len(p)) <= room {
		return b.buf.Write(p)
	}
	if room > 0 {
		b.buf.Write(p[:room])
	}
	b.dropped += int64(len(p)) - max(room, 0)
	if b.overflow == nil {
		return len(p), nil
	}
	if !b.over {
		b.over = true
		b.overflow()
	}
	return 0, errOutputLimit
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *limitedBuffer) overflowed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over
}
