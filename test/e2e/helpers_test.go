package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testratify"
)

// commandTimeout bounds one run of a binary. It is far above what any run
// needs, so that a slow, busy machine never fails a test; it only stops a
// hung process.
const commandTimeout = 5 * time.Minute

// Exit codes of `ratify verify` (README.md, "Verifying an image").
const (
	exitPassed         = 0
	exitFailed         = 1
	exitCouldNotVerify = 2
)

// outcome is what one run of a binary produced.
type outcome struct {
	args           []string
	code           int
	stdout, stderr string
}

// String describes the run for failure messages.
func (o outcome) String() string {
	return "`" + strings.Join(o.args, " ") + "` exited " + strconv.Itoa(o.code) +
		"\n--- stdout:\n" + o.stdout + "\n--- stderr:\n" + o.stderr
}

// run runs bin with args in env and returns its exit code and output. It
// fails the test if the binary cannot be started or is killed.
func run(t *testing.T, env []string, bin string, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := outcome{args: append([]string{bin}, args...), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		o.code = exit.ExitCode()
	default:
		t.Fatalf("%s: %v (deadline %s)\n%s", bin, err, commandTimeout, o)
	}
	return o
}

// ratify runs the ratify binary with args in an isolated environment.
func ratify(t *testing.T, args ...string) outcome {
	t.Helper()
	return run(t, testratify.Env(t), ratifyBin, args...)
}

// wantExit fails the test now unless the run exited with code.
func wantExit(t *testing.T, o outcome, code int) {
	t.Helper()
	if o.code != code {
		t.Fatalf("exit code %d, want %d: %s", o.code, code, o)
	}
	wantNoPanic(t, o)
}

// wantNoPanic fails the test if the run's output shows a Go panic.
func wantNoPanic(t *testing.T, o outcome) {
	t.Helper()
	for _, s := range []string{"panic", "goroutine "} {
		if strings.Contains(o.stderr, s) || strings.Contains(o.stdout, s) {
			t.Errorf("output mentions %q: %s", s, o)
		}
	}
}

// wantCouldNotVerify asserts the answer of a run that reached no verdict:
// exit 2, nothing on stdout, and one line on stderr, "ratify: ...", that
// contains every one of reasons.
func wantCouldNotVerify(t *testing.T, o outcome, reasons ...string) {
	t.Helper()
	wantExit(t, o, exitCouldNotVerify)
	if o.stdout != "" {
		t.Errorf("stdout is not empty: %s", o)
	}
	line := strings.TrimSuffix(o.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "ratify: ") {
		t.Errorf("stderr is not one line starting with \"ratify: \": %q", o.stderr)
	}
	for _, r := range reasons {
		if !strings.Contains(line, r) {
			t.Errorf("stderr does not say %q: %q", r, line)
		}
	}
}
