// Package faults runs ratify against registries, key vaults and token
// services that fail: down, slow past the deadline, throttling, lying about
// content, looping, flooding. Each case goes through the provider handler
// (internal/server, on loopback) or the executor that config.json builds,
// and asserts a clear error or denial (the errdef sentinel, or its text in
// the provider's item error), no panic and no goroutine left behind. The
// security properties of SECURITY.md are tested here too (security_*.go).
package faults

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testregistry"
)

// TestRegistryDown: the registry does not answer at all (nothing listens
// on its port). Verification and mutation are "could not verify"
// (ErrRegistryUnavailable), never "unsigned".
func TestRegistryDown(t *testing.T) {
	noLeaks(t)
	f := newFixture(t, testregistry.Options{Referrers: true})
	down := unusedAddr(t)
	path := writeConfig(t, f.dir, baseConfig())

	e := build(t, path, config.BuildOptions{})
	for _, ref := range []string{down + "/app/signed@" + f.signed.Digest.String(), down + "/app/signed:v1"} {
		_, err := verify(t, e, ref)
		wantErr(t, ref, err, errdef.ErrRegistryUnavailable)
	}

	p := startProvider(t, server.Options{ConfigPath: path})
	wantItemErrors(t, p.post(t, "verify", down+"/app/signed@"+f.signed.Digest.String(), "[team-a]"+down+"/app/signed:v1"),
		errdef.ErrRegistryUnavailable)
	wantItemErrors(t, p.post(t, "mutate", down+"/app/signed:v1"), errdef.ErrRegistryUnavailable)
	// The same provider still verifies what it can reach.
	if a := p.post(t, "verify", f.ref("app/signed", f.signed)); !a.Items[0].result(t).IsSuccess {
		t.Fatalf("a reachable signed image after the outage: %+v", a)
	}
}

// TestRegistrySlowerThanDeadline: every registry request hangs until the
// client gives up. The answer comes when the configured deadline expires:
// a system error naming the deadline from the provider (Gatekeeper denies
// on it), ErrTimeout from the executor; the hanging requests are
// abandoned (the registry ends up with none in flight).
func TestRegistrySlowerThanDeadline(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	defer close(release)
	f := newFixture(t, testregistry.Options{Referrers: true, Handler: hangWhen(release, func(r *http.Request) bool {
		return r.Method != http.MethodPut && (strings.Contains(r.URL.Path, "/referrers/") || strings.HasSuffix(r.URL.Path, "/manifests/v1"))
	})})
	cfg := baseConfig()
	cfg["executor"] = map[string]any{"verificationRequestTimeout": 300, "mutationRequestTimeout": 300}
	path := writeConfig(t, f.dir, cfg)

	_, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
	wantErr(t, "executor", err, errdef.ErrTimeout)

	// No verification outlives its request here (see
	// TestShutdownStopsBackgroundVerification for those that do).
	p := startProvider(t, server.Options{ConfigPath: path, BackgroundVerification: time.Nanosecond})
	for _, op := range []string{"verify", "mutate"} {
		key := f.ref("app/signed", f.signed)
		if op == "mutate" {
			key = f.reg.Host() + "/app/signed:v1"
		}
		a := p.post(t, op, key)
		if a.Status != http.StatusInternalServerError || !strings.Contains(a.SystemError, "did not finish within 300ms") {
			t.Fatalf("%s: %d %q %+v, want a 500 system error naming the deadline", op, a.Status, a.SystemError, a.Items)
		}
	}
	p.Stop(t)
	// The registry notices abandoned requests when their connections close.
	eventually(t, "no registry request in flight after the provider stopped", func() bool { return f.reg.Stats().InFlight == 0 })
}

// TestShutdownStopsBackgroundVerification: a verification that outlives
// its request (server.Options.BackgroundVerification, here far longer
// than the test waits) against a registry that hangs must still end when
// the server is shut down: once Run has returned, no registry request of
// it is left in flight (and no goroutine).
func TestShutdownStopsBackgroundVerification(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	defer close(release)
	f := newFixture(t, testregistry.Options{Referrers: true, Handler: hangWhen(release, func(r *http.Request) bool {
		return r.Method != http.MethodPut && strings.Contains(r.URL.Path, "/referrers/")
	})})
	cfg := baseConfig()
	cfg["executor"] = map[string]any{"verificationRequestTimeout": 300}
	p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg), BackgroundVerification: 10 * time.Minute})
	if a := p.post(t, "verify", f.ref("app/signed", f.signed)); !strings.Contains(a.SystemError, "did not finish within") {
		t.Fatalf("verify: %+v, want the request deadline's system error", a)
	}
	p.Stop(t)
	if !within(settle, func() bool { return f.reg.Stats().InFlight == 0 }) {
		t.Fatalf("%d registry requests still in flight after Run returned", f.reg.Stats().InFlight)
	}
}

// hangWhen is registry middleware holding the requests match selects until
// release is closed or the client gives up.
func hangWhen(release <-chan struct{}, match func(*http.Request) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if match(r) {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TestThrottlingAndErrorStorms: a registry answering every request with
// 429 (asking to wait longer than ratify waits, or briefly) or 5xx. The
// verdict is "could not verify" (ErrRegistryUnavailable), never
// "unsigned"; retries are bounded (MaxRetries 3: at most 4 attempts per
// request). 20 keys naming one image in one request cost at most one
// verification per wave of KeyConcurrency (16) keys: keys verified at the
// same time share one verification, and errors are never cached, so each
// wave tries again.
func TestThrottlingAndErrorStorms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault testregistry.Fault
		max   int // referrers requests at most
	}{
		{"429, Retry-After longer than ratify waits", testregistry.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600"}, 1},
		{"429, Retry-After 0", testregistry.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"}, 4},
		{"503", testregistry.Fault{Status: http.StatusServiceUnavailable}, 4},
		{"502 with a garbage body", testregistry.Fault{Status: http.StatusBadGateway, Body: []byte("<html>bad gateway</html>")}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			f := newFixture(t, testregistry.Options{Referrers: true})
			path := writeConfig(t, f.dir, baseConfig())
			f.reg.Inject(tc.fault)

			f.reg.Reset()
			_, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
			wantErr(t, "executor", err, errdef.ErrRegistryUnavailable)
			if n := f.reg.Count(http.MethodGet, testregistry.KindReferrers); n == 0 || n > tc.max {
				t.Errorf("executor: %d referrers requests, want 1 to %d", n, tc.max)
			}

			p := startProvider(t, server.Options{ConfigPath: path})
			keys := make([]string, 20)
			for i := range keys {
				keys[i] = f.ref("app/signed", f.signed)
			}
			f.reg.Reset()
			wantItemErrors(t, p.post(t, "verify", keys...), errdef.ErrRegistryUnavailable)
			if n, waves := f.reg.Total(), (len(keys)+15)/16; n == 0 || n > tc.max*waves {
				t.Errorf("provider: %d registry requests for %d keys of one image, want 1 to %d", n, len(keys), tc.max*waves)
			}
		})
	}
}

// TestRegistryRecoversFromTransientErrors: two 503s and a 429 with a short
// Retry-After, then service: the retries within the deadline make the
// verdict right (a pass), not an error and not "unsigned".
func TestRegistryRecoversFromTransientErrors(t *testing.T) {
	noLeaks(t)
	f := newFixture(t, testregistry.Options{Referrers: true})
	path := writeConfig(t, f.dir, baseConfig())
	f.reg.Inject(testregistry.Fault{Kind: testregistry.KindReferrers, Status: http.StatusServiceUnavailable, Times: 2})
	f.reg.Inject(testregistry.Fault{Kind: testregistry.KindBlob, Status: http.StatusTooManyRequests, RetryAfter: "0", Times: 1})
	res, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
	if err != nil || !res.IsSuccess {
		t.Fatalf("after transient errors: %+v, %v; want a pass", res, err)
	}
}
