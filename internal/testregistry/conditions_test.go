package testregistry

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestThrottle proves the token bucket: a burst of 3 is served, the next
// requests are refused 429 with a Retry-After in whole seconds, and the
// refusals are counted, as requests of their kind and as Stats.Throttled.
func TestThrottle(t *testing.T) {
	r := New(t, Options{Referrers: true})
	subject := r.PushImage(t, "app", "v1")
	// One token every ~17 minutes: none comes back during the test.
	r.SetConditions(Conditions{RateLimit: 0.001, Burst: 3})
	r.Reset()
	path := "/v2/app/manifests/" + subject.Digest.String()
	for i, want := range []int{200, 200, 200, 429, 429} {
		status, header, _ := get(t, r, path)
		if status != want {
			t.Fatalf("request %d: status %d, want %d", i, status, want)
		}
		if status == 429 {
			secs, err := strconv.Atoi(header.Get("Retry-After"))
			if err != nil || secs < 1 || secs > 1000 {
				t.Errorf("Retry-After = %q, want whole seconds until the next token", header.Get("Retry-After"))
			}
		}
	}
	if s := r.Stats(); s.Throttled != 2 || len(s.ThrottledBy) != 1 || s.ThrottledBy["GET manifest"] != 2 {
		t.Errorf("Throttled = %d, by kind %v, want 2 GET manifest", s.Throttled, s.ThrottledBy)
	}
	if got := r.Count(http.MethodGet, KindManifest); got != 5 {
		t.Errorf("GET manifest = %d, want 5 (refusals count)", got)
	}

	r.SetConditions(Conditions{RateLimit: 0.001, Burst: 1, RetryAfter: 1500 * time.Millisecond})
	get(t, r, path)
	if _, header, _ := get(t, r, path); header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q, want the configured 1.5 s rounded up to 2", header.Get("Retry-After"))
	}
	r.SetConditions(Conditions{})
	if status, _, _ := get(t, r, path); status != 200 {
		t.Errorf("without conditions: status %d", status)
	}
	r.Reset()
	if s := r.Stats(); s.Throttled != 0 || s.Failed != 0 {
		t.Errorf("Stats after Reset = %+v", s)
	}
}

// TestFailureRate proves that the failure rate fails all, none or a share
// of the requests, with the status asked for, counted in Stats.Failed.
func TestFailureRate(t *testing.T) {
	r := New(t, Options{Referrers: true})
	subject := r.PushImage(t, "app", "v1")
	path := "/v2/app/manifests/" + subject.Digest.String()
	for _, tc := range []struct {
		rate       float64
		status     int
		wantStatus int
		min, max   int // failures of 200 requests
	}{
		{0, 0, 0, 0, 0},
		{1, 0, http.StatusServiceUnavailable, 200, 200},
		{1, http.StatusBadGateway, http.StatusBadGateway, 200, 200},
		{0.5, 0, http.StatusServiceUnavailable, 50, 150}, // fixed seed: deterministic, bounds loose
	} {
		r.SetConditions(Conditions{FailureRate: tc.rate, FailureStatus: tc.status, Seed: 7})
		r.Reset()
		for range 200 {
			status, _, _ := get(t, r, path)
			if status != http.StatusOK && status != tc.wantStatus {
				t.Fatalf("rate %v: status %d, want 200 or %d", tc.rate, status, tc.wantStatus)
			}
		}
		if got := r.Stats().Failed; got < tc.min || got > tc.max {
			t.Errorf("rate %v: %d of 200 failed, want %d to %d", tc.rate, got, tc.min, tc.max)
		}
	}
}

// TestLatencyOverlaps proves that delayed requests wait side by side, not
// one after the other: with an hour of latency, three requests are in
// flight at once, and each ends as soon as its client gives up.
func TestLatencyOverlaps(t *testing.T) {
	r := New(t, Options{Referrers: true, Conditions: Conditions{Latency: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host()+"/v2/", nil)
			resp, err := r.Client().Do(req)
			if err == nil {
				resp.Body.Close()
				t.Errorf("request answered %d before its client gave up", resp.StatusCode)
			} else if !errors.Is(err, context.Canceled) {
				t.Errorf("request: %v, want context.Canceled", err)
			}
		})
	}
	for r.Stats().InFlight < 3 {
		time.Sleep(time.Millisecond)
	}
	if got := r.Stats().PeakInFlight; got != 3 {
		t.Errorf("PeakInFlight = %d, want 3", got)
	}
	cancel()
	wg.Wait()
	for r.Stats().InFlight > 0 { // the handlers return once they notice
		time.Sleep(time.Millisecond)
	}
}
