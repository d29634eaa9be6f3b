package server

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testregistry"
)

func TestCachedVerificationMakesNoRegistryRequest(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.Handler()
	tagged := f.reg.Host() + "/app/signed:v1"
	for _, key := range []string{f.signed, tagged} {
		if _, resp := post(t, h, verifyPath, requestBody(key), nil); !decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
			t.Fatalf("first verification of %s failed: %+v", key, resp)
		}
	}
	f.reg.Reset()
	for _, key := range []string{f.signed, tagged, "[ns]" + tagged} {
		_, resp := post(t, h, verifyPath, requestBody(key), nil)
		if !decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
			t.Fatalf("cached verification of %s: %+v", key, resp)
		}
	}
	if n := f.reg.Total(); n != 0 {
		t.Errorf("cached verifications made %d registry requests: %v", n, f.reg.Counts())
	}
}

func TestConcurrentVerificationsAreCoalesced(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, setup{registry: hangReferrers(release)})
	var entered atomic.Int32
	inner := f.srv.Handler()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		inner.ServeHTTP(w, r)
	})
	f.reg.Reset()

	const clients = 100
	var wg sync.WaitGroup
	results := make([]bool, clients)
	for i := range clients {
		wg.Go(func() {
			// Half the clients ask for one key, half for the same key twice.
			keys := []string{f.signed}
			if i%2 == 1 {
				keys = append(keys, f.signed)
			}
			_, resp := post(t, h, verifyPath, requestBody(keys...), nil)
			ok := true
			for _, it := range resp.Response.Items {
				ok = ok && it.Error == "" && decodeResult(t, it.Value).IsSuccess
			}
			results[i] = ok
		})
	}
	// Let the listing through once every client has asked (they wait on
	// the one verification in flight), then see that all of them pass.
	// Without coalescing each would have listed the referrers itself.
	waitFor(t, func() bool { return entered.Load() == clients && f.reg.Count(http.MethodGet, "referrers") >= 1 })
	close(release)
	wg.Wait()
	for i, ok := range results {
		if !ok {
			t.Fatalf("client %d did not get a passing result", i)
		}
	}
	want := map[string]int{"GET referrers": 1, "GET manifest": 1, "GET blob": 1}
	got := f.reg.Counts()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if f.reg.Total() != 3 {
		t.Errorf("%d registry requests for %d concurrent verifications of one image, want 3: %v", f.reg.Total(), clients, got)
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestListingReusedWhileThrottled checks ReferrersStaleTTL end to end:
// once the registry has throttled (429, Retry-After a minute), an image
// whose verdict expired is verified again from its last referrers listing
// and cached signature, without asking the registry; with the option off
// it is "could not verify", and never a failing verdict.
func TestListingReusedWhileThrottled(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		pass bool
	}{{"default", 0, true}, {"off", -1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{server: Options{CacheTTL: time.Microsecond, ReferrersStaleTTL: tc.ttl}})
			if res, _, itemErr := verifyOne(t, f.srv, f.signed); !res.IsSuccess {
				t.Fatalf("before throttling: %q", itemErr)
			}
			// One 429 teaches ratify that the registry throttles; what it
			// would ask afterwards the registry would answer.
			f.reg.Inject(testregistry.Fault{Times: 1, Status: http.StatusTooManyRequests, RetryAfter: "60"})
			if res, _, itemErr := verifyOne(t, f.srv, f.signed); !res.IsSuccess && itemErr == "" {
				t.Fatal("a signed image failed verification when the registry throttled")
			}
			f.reg.Reset()
			res, _, itemErr := verifyOne(t, f.srv, f.signed)
			if res.IsSuccess != tc.pass || (!tc.pass && !strings.Contains(itemErr, "throttl")) {
				t.Fatalf("throttled: success %v, error %q; want success %v", res.IsSuccess, itemErr, tc.pass)
			}
			if n := f.reg.Count(http.MethodGet, testregistry.KindReferrers); n != 0 {
				t.Errorf("%d referrers listings while the registry throttles, want none", n)
			}
			metrics := httptestGet(f.srv.metrics.handler(), "/metrics").Body.String()
			if reused := strings.Contains(metrics, `ratify_registry_reuse_count{kind="referrers"}`); reused != tc.pass {
				t.Errorf("metrics show a reused listing: %v, want %v", reused, tc.pass)
			}
		})
	}
}
