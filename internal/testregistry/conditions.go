package testregistry

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Conditions are how a registry serves every request, as a loaded or
// remote registry does: after a fixed latency, within a request rate
// beyond which it answers 429 Too Many Requests with Retry-After (OCI
// distribution-spec v1.1 lets a registry throttle so; RFC 9110 §10.2.3),
// and failing a share of requests with a 5xx. The zero value serves every
// request at once. Conditions apply to every request, pushes included:
// set them with SetConditions once the test has pushed its content.
type Conditions struct {
	// Latency delays every response, refusals included. Each request sleeps
	// in its own handler goroutine, so that delayed requests overlap; the
	// sleep ends early when the client gives up.
	Latency time.Duration
	// RateLimit, when positive, is the requests per second a token bucket
	// admits; a request that finds the bucket empty is answered 429.
	RateLimit float64
	// Burst is the bucket's size; zero means one second's worth of
	// RateLimit (at least 1). The bucket starts full.
	Burst int
	// RetryAfter is sent as Retry-After with each 429, rounded up to whole
	// seconds; zero means the time until the bucket next holds a token,
	// rounded up (at least 1 s).
	RetryAfter time.Duration
	// FailureRate is the share of the requests admitted by the bucket that
	// are answered FailureStatus instead of served, chosen at random (from
	// Seed, so that a run can be repeated).
	FailureRate float64
	// FailureStatus is the status of those failures; zero means 503.
	FailureStatus int
	// Seed seeds the choice of failing requests.
	Seed uint64
}

// Stats count what a registry's Conditions did since it started or was
// last Reset.
type Stats struct {
	// Throttled is the number of 429 responses sent by the rate limit;
	// ThrottledBy splits it by "METHOD kind" ("HEAD manifest"), as Counts.
	Throttled   int
	ThrottledBy map[string]int
	// Failed is the number of 5xx responses sent by the failure rate.
	Failed int
	// InFlight is the number of requests being served now; PeakInFlight
	// the most at any one time.
	InFlight, PeakInFlight int
}

// conditions holds a registry's Conditions and the state of its bucket.
type conditions struct {
	mu     sync.Mutex
	c      Conditions
	tokens float64
	last   time.Time
	rand   *rand.Rand
	stats  Stats
}

// set replaces the conditions and refills the bucket.
func (cs *conditions) set(c Conditions) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.c = c
	cs.tokens = float64(burst(c))
	cs.last = time.Now()
	cs.rand = rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
}

func burst(c Conditions) int {
	if c.Burst > 0 {
		return c.Burst
	}
	return max(1, int(math.Ceil(c.RateLimit)))
}

// SetConditions replaces the registry's conditions, refills its bucket and
// reseeds its failures. Requests already sleeping keep their latency.
func (r *Registry) SetConditions(c Conditions) { r.cond.set(c) }

// Stats returns what the registry's conditions did since it started or was
// last Reset, and the requests in flight.
func (r *Registry) Stats() Stats {
	r.cond.mu.Lock()
	defer r.cond.mu.Unlock()
	s := r.cond.stats
	s.ThrottledBy = maps.Clone(s.ThrottledBy)
	return s
}

// enter counts a request in flight and returns the latency it must wait.
func (cs *conditions) enter() time.Duration {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.stats.InFlight++
	cs.stats.PeakInFlight = max(cs.stats.PeakInFlight, cs.stats.InFlight)
	return cs.c.Latency
}

func (cs *conditions) leave() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.stats.InFlight--
}

// reset zeroes the counts; requests in flight stay counted as such.
func (cs *conditions) reset() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.stats = Stats{InFlight: cs.stats.InFlight, PeakInFlight: cs.stats.InFlight}
}

// admit takes a token from the bucket and draws a failure for a request
// of kind ("METHOD kind"). It returns the status to refuse the request
// with (zero to serve it) and, for 429, the Retry-After value.
func (cs *conditions) admit(now time.Time, kind string) (status int, retryAfter string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.c
	if c.RateLimit > 0 {
		cs.tokens = min(float64(burst(c)), cs.tokens+now.Sub(cs.last).Seconds()*c.RateLimit)
		cs.last = now
		if cs.tokens < 1 {
			cs.stats.Throttled++
			if cs.stats.ThrottledBy == nil {
				cs.stats.ThrottledBy = map[string]int{}
			}
			cs.stats.ThrottledBy[kind]++
			wait := c.RetryAfter
			if wait <= 0 {
				wait = time.Duration((1 - cs.tokens) / c.RateLimit * float64(time.Second))
			}
			return http.StatusTooManyRequests, strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
		}
		cs.tokens--
	}
	if c.FailureRate > 0 && cs.rand.Float64() < c.FailureRate {
		cs.stats.Failed++
		if c.FailureStatus != 0 {
			return c.FailureStatus, ""
		}
		return http.StatusServiceUnavailable, ""
	}
	return 0, ""
}

// impose applies the conditions to one request of kind ("METHOD kind")
// that entered with latency d: it waits d (or until the client gives up)
// and answers the request itself when the bucket is empty or the request
// is chosen to fail. It reports whether the request is still to be served.
func (cs *conditions) impose(w http.ResponseWriter, req *http.Request, kind string, d time.Duration) bool {
	if d > 0 && !sleep(req.Context(), d) {
		return false // the client is gone; nobody reads an answer
	}
	status, retryAfter := cs.admit(time.Now(), kind)
	switch {
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, status, "TOOMANYREQUESTS", "rate limit exceeded")
		return false
	case status != 0:
		writeError(w, status, "UNAVAILABLE", http.StatusText(status))
		return false
	}
	return true
}

// sleep waits d, or until ctx is done; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
