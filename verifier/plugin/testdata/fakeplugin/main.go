// Command fakeplugin is a verifier plugin for the tests of package plugin:
// it speaks Ratify v1's verifier plugin protocol, and misbehaves as the
// "behavior" field of its verifier entry asks.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type input struct {
	Config struct {
		Behavior string `json:"behavior"`
		// PIDFile, for "hang" and "linger", receives the pid of a child
		// the plugin starts.
		PIDFile string `json:"pidFile"`
	} `json:"config"`
}

func main() {
	if os.Getenv("FAKEPLUGIN_CHILD") != "" {
		time.Sleep(time.Hour)
		return
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(5, "error reading from stdin", err.Error())
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail(1, "error unmarshal verifier config", err.Error())
	}
	for _, name := range []string{"RATIFY_VERIFIER_COMMAND", "RATIFY_VERIFIER_SUBJECT", "RATIFY_VERIFIER_VERSION"} {
		if os.Getenv(name) == "" {
			fail(4, "missing env variables ["+name+"]", "")
		}
	}
	switch in.Config.Behavior {
	case "pass":
		result(true, "verification passed", map[string]any{
			"env": map[string]string{
				"command": os.Getenv("RATIFY_VERIFIER_COMMAND"),
				"subject": os.Getenv("RATIFY_VERIFIER_SUBJECT"),
				"version": os.Getenv("RATIFY_VERIFIER_VERSION"),
				"extra":   os.Getenv("FAKEPLUGIN_EXTRA"),
			},
			"input": json.RawMessage(raw),
		})
	case "fail":
		out(map[string]any{"isSuccess": false, "name": "fakeplugin", "message": "license GPL-3.0 is not allowed",
			"errorReason": "disallowed license", "remediation": "remove the package", "extensions": []string{"GPL-3.0"}})
	case "logs":
		fmt.Println("info: checking licenses")
		fmt.Println("this line has no level")
		result(true, "ok", nil)
		fmt.Println("warn: done")
		fmt.Fprintln(os.Stderr, "debug: stderr is logged too")
	case "error":
		fail(8, "plugin command VERIFY failed", "registry unreachable")
	case "error-exit0":
		out(map[string]any{"code": 8, "msg": "plugin command VERIFY failed", "details": "registry unreachable"})
	case "success-exit3":
		result(true, "ok", nil)
		os.Exit(3)
	case "crash":
		var m map[string]int
		m["boom"]++ // a nil map write: the runtime panics, exit status 2
	case "signal":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Hour)
	case "garbage":
		fmt.Println("hello, world")
	case "not-a-result":
		out(map[string]any{"hello": "world"})
	case "bad-issuccess":
		fmt.Println(`{"isSuccess": "yes", "message": "ok"}`)
	case "two-results":
		result(false, "no", nil)
		result(true, "yes", nil)
	case "flood":
		chunk := []byte(strings.Repeat("x", 1<<16) + "\n")
		for range 160 { // 10 MiB
			if _, err := os.Stdout.Write(chunk); err != nil {
				os.Exit(1)
			}
		}
		result(true, "ok", nil)
	case "stderr-flood":
		chunk := []byte(strings.Repeat("e", 1<<16) + "\n")
		for range 160 {
			_, _ = os.Stderr.Write(chunk)
		}
		result(true, "ok", nil)
	case "hang":
		child(in.Config.PIDFile)
		time.Sleep(time.Hour)
	case "linger":
		// Answers, but leaves a child holding standard output.
		child(in.Config.PIDFile)
		result(true, "ok", nil)
	default:
		fail(2, "unknown behavior "+strconv.Quote(in.Config.Behavior), "")
	}
}

// child starts a copy of the plugin that sleeps, sharing standard output,
// and writes its pid to pidFile.
func child(pidFile string) {
	self, err := os.Executable()
	if err != nil {
		fail(999, err.Error(), "")
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "FAKEPLUGIN_CHILD=1")
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		fail(999, err.Error(), "")
	}
	if pidFile != "" {
		_ = os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
	}
}

func result(ok bool, message string, extensions any) {
	out(map[string]any{"isSuccess": ok, "name": "fakeplugin", "type": "fakeplugin", "message": message, "extensions": extensions})
}

func out(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

// fail reports an error as v1's skel does: indented JSON, exit status 1.
func fail(code int, msg, details string) {
	b, _ := json.MarshalIndent(map[string]any{"code": code, "msg": msg, "details": details}, "", "    ")
	os.Stdout.Write(b)
	os.Exit(1)
}
