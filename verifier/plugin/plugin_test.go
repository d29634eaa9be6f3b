package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
)

// TestVerifyProtocol checks what the plugin is given: the environment
// variables and the input JSON of Ratify v1's protocol.
func TestVerifyProtocol(t *testing.T) {
	store := StoreConfig{Version: "1.0.0", PluginBinDirs: []string{"/plugins"}, Store: json.RawMessage(`{"name":"oras","useHttp":true}`)}
	v := newVerifier(t, "pass", Options{
		Version: "1.0.0",
		Store:   store,
		Environ: []string{"FAKEPLUGIN_EXTRA=kept", EnvSubject + "=stale", "PATH=" + os.Getenv("PATH")},
	})
	r, err := v.Verify(context.Background(), subject, artifact, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsSuccess || r.Message != "verification passed" {
		t.Fatalf("report %+v", r)
	}
	var got struct {
		Env   map[string]string
		Input struct {
			Config        map[string]any     `json:"config"`
			StoreConfig   StoreConfig        `json:"storeConfig"`
			ReferenceDesc ocispec.Descriptor `json:"referenceDesc"`
		}
	}
	raw, _ := json.Marshal(r.Extensions)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{"command": "VERIFY", "subject": "127.0.0.1:5000/demo@" + subject.Descriptor.Digest.String(),
		"version": "1.0.0", "extra": "kept"}
	for k, want := range wantEnv {
		if got.Env[k] != want {
			t.Errorf("env %s = %q, want %q", k, got.Env[k], want)
		}
	}
	if got.Input.Config["name"] != "licensechecker" || got.Input.Config["behavior"] != "pass" ||
		got.Input.Config["artifactTypes"] != spdxType {
		t.Errorf("config = %v, want the verifier entry", got.Input.Config)
	}
	if got.Input.StoreConfig.Version != "1.0.0" || string(got.Input.StoreConfig.Store) != `{"name":"oras","useHttp":true}` ||
		len(got.Input.StoreConfig.PluginBinDirs) != 1 {
		t.Errorf("storeConfig = %+v", got.Input.StoreConfig)
	}
	d := got.Input.ReferenceDesc
	if d.Digest != artifact.Digest || d.MediaType != artifact.MediaType || d.Size != artifact.Size || d.ArtifactType != spdxType {
		t.Errorf("referenceDesc = %+v, want %+v", d, artifact)
	}
}

// TestVerifyOutcomes runs plugins that pass, fail and misbehave: only a
// well-formed result is a report, and only isSuccess true passes.
func TestVerifyOutcomes(t *testing.T) {
	tests := []struct {
		behavior string
		want     bool   // IsSuccess, when no error
		target   error  // the error wraps it; nil: a report
		errText  string // in the error, or in ErrorReason
		code     uint   // the *Error's code, when the plugin reported one
	}{
		{behavior: "pass", want: true},
		{behavior: "fail", errText: "disallowed license"},
		{behavior: "logs", want: true},
		{behavior: "stderr-flood", want: true},
		{behavior: "linger", want: true},
		{behavior: "error", errText: "registry unreachable", code: 8},
		{behavior: "error-exit0", errText: "registry unreachable", code: 8},
		{behavior: "unknown", errText: "unknown behavior", code: 2},
		{behavior: "success-exit3", errText: "exit status 3"},
		{behavior: "crash", errText: "exit status 2"},
		{behavior: "signal", errText: "signal: killed"},
		{behavior: "garbage", target: errdef.ErrInvalidContent, errText: "no JSON result"},
		{behavior: "not-a-result", target: errdef.ErrInvalidContent, errText: "neither a verifier result"},
		{behavior: "bad-issuccess", target: errdef.ErrInvalidContent, errText: "isSuccess must be true or false"},
		{behavior: "two-results", target: errdef.ErrInvalidContent, errText: "more than one JSON object"},
		{behavior: "flood", target: errdef.ErrSizeExceedsLimit, errText: "more than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.behavior, func(t *testing.T) {
			v := newVerifier(t, tt.behavior, Options{})
			start := time.Now()
			r, err := v.Verify(context.Background(), subject, artifact, nil)
			if elapsed := time.Since(start); elapsed > 8*time.Second {
				t.Errorf("took %s", elapsed)
			}
			wantErr := tt.target != nil || tt.code != 0 || (tt.errText != "" && tt.behavior != "fail")
			if !wantErr {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.errText) {
					t.Fatalf("report %+v, want IsSuccess %v and reason %q", r, tt.want, tt.errText)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify = %+v, want an error", r)
			}
			if r.IsSuccess {
				t.Fatal("a report that passes came with the error")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("error %v does not wrap %v", err, tt.target)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %q does not say %q", err, tt.errText)
			}
			var perr *Error
			if got := errors.As(err, &perr); got != (tt.code != 0) || (got && perr.Code != tt.code) {
				t.Errorf("error %v: plugin error %+v, want code %d", err, perr, tt.code)
			}
		})
	}
}

func TestVerifyFailedReport(t *testing.T) {
	v := newVerifier(t, "fail", Options{})
	r, err := v.Verify(context.Background(), subject, artifact, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.IsSuccess || r.Message != "license GPL-3.0 is not allowed" || r.ErrorReason != "disallowed license" || r.Remediation != "remove the package" {
		t.Errorf("report %+v", r)
	}
	// Extensions that are not an object are kept under "value".
	if v, ok := r.Extensions["value"].([]any); !ok || len(v) != 1 || v[0] != "GPL-3.0" {
		t.Errorf("extensions %#v", r.Extensions)
	}
}

// TestVerifyTimeout runs a plugin that hangs after starting a child: both
// are killed at the timeout, and the error says so.
func TestVerifyTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	opts := Options{PluginBinDirs: []string{install(t, "licensechecker", 0o755)}, Timeout: 500 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	v, err := New(Config{Name: "licensechecker", Entry: entry(t, map[string]any{"behavior": "hang", "pidFile": pidFile})}, opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = v.Verify(context.Background(), subject, artifact, nil)
	if !errors.Is(err, errdef.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Verify = %v, want a timeout", err)
	}
	if elapsed := time.Since(start); elapsed < 500*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("Verify took %s with a 500ms timeout", elapsed)
	}
	assertGone(t, pidFile)
}

// TestVerifyLingeringChild checks that a child left holding the output
// after the plugin answered is ended too.
func TestVerifyLingeringChild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	v, err := New(Config{Name: "licensechecker", Entry: entry(t, map[string]any{"behavior": "linger", "pidFile": pidFile})},
		Options{PluginBinDirs: []string{install(t, "licensechecker", 0o755)}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := v.Verify(context.Background(), subject, artifact, nil); err != nil || !r.IsSuccess {
		t.Fatalf("Verify = %+v, %v", r, err)
	}
	assertGone(t, pidFile)
}

// assertGone waits for the process whose pid is in pidFile to be gone.
func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the plugin did not start its child: %v", err)
	}
	pid, err := strconv.Atoi(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		// A killed child is reparented and reaped; until then it is a
		// zombie, which /proc shows in state Z.
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) || (err == nil && zombie(stat)) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d of the plugin is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func zombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// TestVerifyContext checks that the caller's context bounds the plugin.
func TestVerifyContext(t *testing.T) {
	v := newVerifier(t, "hang", Options{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, subject, artifact, nil)
	if !errors.Is(err, errdef.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify under an expiring context = %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = v.Verify(ctx, subject, artifact, nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, errdef.ErrTimeout) {
		t.Fatalf("Verify under a canceled context = %v", err)
	}
}

// TestVerifyLogs checks that what a plugin writes besides its result is
// logged, at the level its v1-style prefix names.
func TestVerifyLogs(t *testing.T) {
	var buf bytes.Buffer
	v := newVerifier(t, "logs", Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if r, err := v.Verify(context.Background(), subject, artifact, nil); err != nil || !r.IsSuccess {
		t.Fatalf("Verify = %+v, %v", r, err)
	}
	logs := buf.String()
	for _, want := range []string{
		`level=INFO msg="checking licenses" verifier=licensechecker`,
		`level=INFO msg="this line has no level"`,
		`level=WARN msg=done`,
		`level=DEBUG msg="stderr is logged too"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := newVerifier(t, "pass", Options{})
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			r, err := v.Verify(context.Background(), subject, artifact, nil)
			if err == nil && !r.IsSuccess {
				err = errors.New("failed")
			}
			errs <- err
		}()
	}
	for range 6 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
