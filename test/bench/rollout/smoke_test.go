package rollout

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testregistry"
)

// TestRolloutSmoke runs a small rollout through the whole harness (one
// ratify, then two, against a registry with a little latency, then one
// that throttles and fails) so that the long rollouts keep working. Its
// deadline is far above what a request needs: it checks what the harness
// counts, not how fast ratify is.
func TestRolloutSmoke(t *testing.T) {
	base := scenario{
		Name: "smoke", Pods: 40, Images: 10, Containers: 3, Concurrency: 8,
		Deadline: 2 * time.Minute, Retries: 50, RetryDelay: 10 * time.Millisecond,
		Registry: testregistry.Conditions{Latency: 2 * time.Millisecond}, Replicas: 1, Seed: 1,
	}
	t.Run("plain", func(t *testing.T) {
		m := rollout(t, base)
		checkCounts(t, m)
		tl := m.tally
		if tl.verdicts[admitted] != base.Pods || tl.firstTry != base.Pods || tl.failed+tl.errored != 0 {
			t.Errorf("signed images: %d of %d pods admitted (%d first try), %d items failed, %d errors (%v)",
				tl.verdicts[admitted], base.Pods, tl.firstTry, tl.failed, tl.errored, tl.reasons)
		}
		if m.requests == 0 || m.procs[0].PeakRSS == 0 {
			t.Errorf("registry requests %d, ratify peak RSS %d: nothing measured", m.requests, m.procs[0].PeakRSS)
		}
		if report := markdown("cmd", []*measurement{m}); !strings.Contains(report, "| smoke: 2 ms, 50 retries | 1 | 40 |") {
			t.Errorf("report has no row for the run:\n%s", report)
		}
	})
	t.Run("replicas", func(t *testing.T) {
		s := base
		s.Replicas = 2
		m := rollout(t, s)
		checkCounts(t, m)
		if len(m.procs) != 2 {
			t.Errorf("%d replicas measured, want 2", len(m.procs))
		}
	})
	t.Run("throttled", func(t *testing.T) {
		s := base
		s.Registry = testregistry.Conditions{RateLimit: 200, Burst: 10, FailureRate: 0.05, Seed: 1}
		m := rollout(t, s)
		checkCounts(t, m)
	})
}

// checkCounts checks what every rollout's counts must satisfy.
func checkCounts(t *testing.T, m *measurement) {
	t.Helper()
	tl := m.tally
	if got := tl.verdicts[admitted] + tl.verdicts[failed] + tl.verdicts[unverified]; got != m.s.Pods {
		t.Errorf("%d pods have a verdict, want %d", got, m.s.Pods)
	}
	if tl.attempts < m.s.Pods || len(tl.latencies) != tl.attempts {
		t.Errorf("%d attempts, %d latencies for %d pods", tl.attempts, len(tl.latencies), m.s.Pods)
	}
	answered := tl.attempts - tl.timeouts - tl.system
	if got := tl.passed + tl.failed + tl.errored; got != answered*m.s.Containers {
		t.Errorf("%d items in %d answered attempts of %d keys", got, answered, m.s.Containers)
	}
	if m.distinct != m.s.Images {
		t.Errorf("pods name %d distinct images, want all %d", m.distinct, m.s.Images)
	}
}

// TestVerdicts checks how an answer is judged, against a provider that
// answers as the test says.
func TestVerdicts(t *testing.T) {
	pass := `{"isSuccess":true,"verifierReports":[{"isSuccess":true}]}`
	fail := `{"isSuccess":false,"verifierReports":[{"isSuccess":false,"errorReason":"signature is not trusted"}]}`
	for _, tc := range []struct {
		name    string
		status  int
		body    string // items for keys a and b, or a whole response
		want    verdict
		timeout bool
	}{
		{"admitted", 200, `[{"key":"a","value":` + pass + `},{"key":"b","value":` + pass + `}]`, admitted, false},
		{"failed", 200, `[{"key":"a","value":` + pass + `},{"key":"b","value":` + fail + `}]`, failed, false},
		{"error", 200, `[{"key":"a","value":` + pass + `},{"key":"b","error":"429"}]`, unverified, false},
		{"failed outranks error", 200, `[{"key":"a","value":` + fail + `},{"key":"b","error":"429"}]`, failed, false},
		{"key missing", 200, `[{"key":"a","value":` + pass + `}]`, unverified, false},
		{"system error", 500, `{"response":{"systemError":"timed out"}}`, unverified, false},
		{"not a response", 502, `<html>`, unverified, false},
		{"deadline", 200, `hang`, unverified, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.body == "hang" {
					<-release
					return
				}
				body := tc.body
				if strings.HasPrefix(body, "[") {
					body = `{"response":{"items":` + body + `}}`
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			defer close(release)
			s := scenario{Concurrency: 1, Deadline: time.Minute}
			if tc.timeout {
				s.Deadline = 10 * time.Millisecond
			}
			g := newGenerator(s, []string{strings.TrimPrefix(srv.URL, "http://")})
			if got := g.admit(context.Background(), []string{"a", "b"}); got != tc.want {
				t.Errorf("verdict %d, want %d (%v)", got, tc.want, g.tally.reasons)
			}
			if tc.timeout != (g.tally.timeouts == 1) {
				t.Errorf("timeouts = %d", g.tally.timeouts)
			}
		})
	}
}

// TestRetries checks that a pod that could not be verified is sent again
// up to the retries, and one that failed is not.
func TestRetries(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Request struct{ Keys []string } `json:"request"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		key := req.Request.Keys[0]
		mu.Lock()
		calls[key]++
		n := calls[key]
		mu.Unlock()
		value := `{"isSuccess":false}`
		switch {
		case key == "flaky" && n < 3, key == "down":
			_, _ = w.Write([]byte(`{"response":{"items":[{"key":"` + key + `","error":"429"}]}}`))
			return
		case key == "flaky":
			value = `{"isSuccess":true}`
		}
		_, _ = w.Write([]byte(`{"response":{"items":[{"key":"` + key + `","value":` + value + `}]}}`))
	}))
	defer srv.Close()
	s := scenario{Concurrency: 1, Deadline: time.Minute, Retries: 4, RetryDelay: time.Millisecond}
	g := newGenerator(s, []string{strings.TrimPrefix(srv.URL, "http://")})
	tl := g.run(context.Background(), []*pod{{keys: []string{"flaky"}}, {keys: []string{"down"}}, {keys: []string{"unsigned"}}})
	mu.Lock()
	defer mu.Unlock()
	if calls["flaky"] != 3 || calls["down"] != 5 || calls["unsigned"] != 1 {
		t.Errorf("calls = %v, want flaky 3, down 5 (1 + 4 retries), unsigned 1", calls)
	}
	if tl.verdicts != [3]int{1, 1, 1} || tl.firstTry != 0 {
		t.Errorf("verdicts %v (admitted, failed, unverified), first try %d", tl.verdicts, tl.firstTry)
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("4242 (ratify (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0 9 0 1000 800000000 10000 18446744073709551615\n")
	if cpu, err := parseStatCPU(stat); err != nil || cpu != 3250*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v, want 3.25s", cpu, err)
	}
	status := []byte("Name:\tratify\nVmPeak:\t 900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n")
	if rss, err := parseVmHWM(status); err != nil || rss != 50<<20 {
		t.Errorf("parseVmHWM = %d, %v, want 50 MiB", rss, err)
	}
	if _, err := parseVmHWM([]byte("Name:\tx\n")); err == nil {
		t.Error("parseVmHWM without VmHWM: no error")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 95: 95, 99: 99, 100: 100, 1: 1} {
		if got := pct(d, p); got != want {
			t.Errorf("pct(%v) = %d, want %d", p, got, want)
		}
	}
	if pct(nil, 50) != 0 {
		t.Error("pct of nothing")
	}
}
