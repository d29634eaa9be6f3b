package main

import (
	"errors"
	"strings"
	"testing"
)

// Messages as govulncheck v1.9 writes them with -format json.
const (
	cfg126 = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","go_version":"go1.26.8","scan_level":"symbol","scan_mode":"source"}}`
	osvStd = `{"osv":{"id":"GO-2026-0001","summary":"net/http bug"}}`
	osvMod = `{"osv":{"id":"GO-2026-0002","summary":"oras bug"}}`
	// A called standard-library symbol, fixed in 1.26.9.
	stdCalled = `{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[
		{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"ReadRequest"},
		{"module":"github.com/openratify/ratify","package":"github.com/openratify/ratify/internal/server","function":"Serve","position":{"filename":"internal/server/server.go","line":42}}]}}`
	// The same advisory at module level only (not called).
	stdModule = `{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8"}]}}`
	// A called symbol in a required module.
	modCalled = `{"finding":{"osv":"GO-2026-0002","fixed_version":"v2.6.4","trace":[
		{"module":"oras.land/oras-go/v2","version":"v2.6.0","package":"oras.land/oras-go/v2/registry/remote/auth","function":"Do","receiver":"*Client"},
		{"module":"github.com/openratify/ratify","package":"github.com/openratify/ratify/store/registry","function":"Fetch","position":{"filename":"store/registry/store.go","line":7}}]}}`
	modImported = `{"finding":{"osv":"GO-2026-0002","fixed_version":"v2.6.4","trace":[{"module":"oras.land/oras-go/v2","version":"v2.6.0","package":"oras.land/oras-go/v2/registry/remote/auth"}]}}`
)

func stream(msgs ...string) *strings.Reader { return strings.NewReader(strings.Join(msgs, "\n")) }

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		in                          []string
		releaseGo                   string
		failing, warnings, uncalled int
	}{
		{"clean", []string{cfg126}, "", 0, 0, 0},
		{"stdlib fixed in the release Go warns", []string{cfg126, osvStd, stdModule, stdCalled}, "1.26.10", 0, 1, 0},
		{"stdlib fixed exactly in the release Go warns", []string{cfg126, osvStd, stdCalled}, "go1.26.9", 0, 1, 0},
		{"stdlib not fixed in the release Go fails", []string{cfg126, osvStd, stdCalled}, "1.26.8", 1, 0, 0},
		{"release Go defaults to the scan's Go", []string{cfg126, osvStd, stdCalled}, "", 1, 0, 0},
		{"called module vulnerability fails", []string{cfg126, osvMod, modImported, modCalled}, "1.26.10", 1, 0, 0},
		{"imported but not called does not fail", []string{cfg126, osvMod, modImported, stdModule}, "", 0, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := judge(stream(tc.in...), tc.releaseGo)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Failing) != tc.failing || len(v.Warnings) != tc.warnings || v.Uncalled != tc.uncalled {
				t.Fatalf("failing %d warnings %d uncalled %d, want %d %d %d", len(v.Failing), len(v.Warnings), v.Uncalled, tc.failing, tc.warnings, tc.uncalled)
			}
		})
	}
}

func TestJudgeNamesTheCall(t *testing.T) {
	v, err := judge(stream(cfg126, osvMod, modCalled), "")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	report(&b, v, "go1.26.8")
	for _, want := range []string{"FAIL: GO-2026-0002 in oras.land/oras-go/v2@v2.6.0 (oras bug): fixed in v2.6.4",
		"store/registry/store.go:7: github.com/openratify/ratify/store/registry.Fetch reaches oras.land/oras-go/v2/registry/remote/auth.Client.Do"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestJudgeRefusesWhatIsNotAScan(t *testing.T) {
	if _, err := judge(stream(), ""); !errors.Is(err, errNoScan) {
		t.Errorf("empty input: %v, want errNoScan", err)
	}
	if _, err := judge(stream(osvStd, stdCalled), ""); !errors.Is(err, errNoScan) {
		t.Errorf("findings without a config: %v, want errNoScan", err)
	}
	if _, err := judge(stream("No vulnerabilities found."), ""); !errors.Is(err, errNoScan) {
		t.Errorf("text output: %v, want errNoScan", err)
	}
	if _, err := judge(stream(strings.Replace(cfg126, `"symbol"`, `"module"`, 1)), ""); !errors.Is(err, errScanLevel) {
		t.Errorf("module-level scan: %v, want errScanLevel (it cannot tell called code apart)", err)
	}
	if _, err := judge(stream(cfg126), "latest"); !errors.Is(err, errReleaseGo) {
		t.Errorf("release Go \"latest\": %v, want errReleaseGo", err)
	}
}
