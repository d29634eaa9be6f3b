package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// newResults is NewResults that fails t on error.
func newResults(t *testing.T, opts ResultsOptions) *Results {
	t.Helper()
	r, err := NewResults(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// clock is a time that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock makes r and its LRUs read c.
func withClock(r *Results, c *clock) *Results {
	r.now = c.Now
	for _, l := range []*LRU[kept]{r.pos, r.neg} {
		if l != nil {
			l.now = c.Now
		}
	}
	return r
}

// verifier returns verify functions that count their calls.
type verifier struct {
	mu    sync.Mutex
	calls int
}

func (v *verifier) returns(res ratify.Result, err error) func(context.Context) (ratify.Result, error) {
	return func(context.Context) (ratify.Result, error) {
		v.mu.Lock()
		v.calls++
		v.mu.Unlock()
		return res, err
	}
}

func (v *verifier) Calls() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.calls
}

var (
	passing = ratify.Result{Version: ratify.ResultVersion, IsSuccess: true}
	failing = ratify.Result{Version: ratify.ResultVersion, IsSuccess: false}
)

func TestNegativeVerdictsHaveTheirOwnTTLAndBound(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	r := withClock(newResults(t, ResultsOptions{
		TTL: time.Minute, Bytes: 1 << 20,
		NegativeTTL: 2 * time.Second, NegativeBytes: 4 << 10,
	}), c)
	ctx := context.Background()
	v := &verifier{}
	if _, err := r.Do(ctx, "good", time.Minute, v.returns(passing, nil)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if a, err := r.Do(ctx, "bad", time.Minute, v.returns(failing, nil)); err != nil || a.Result.IsSuccess || (i > 0) != a.Cached() {
			t.Fatalf("failing verdict, call %d: %+v %v", i, a, err)
		}
	}
	if v.Calls() != 2 {
		t.Fatalf("%d verifications, want 2 (the failing verdict is kept within its TTL)", v.Calls())
	}
	c.Advance(2 * time.Second)
	if a, _ := r.Do(ctx, "bad", time.Minute, v.returns(failing, nil)); a.Cached() {
		t.Error("a failing verdict is served after its own TTL")
	}
	if a, _ := r.Do(ctx, "good", time.Minute, v.returns(failing, nil)); !a.Cached() || !a.Result.IsSuccess {
		t.Errorf("the passing verdict did not outlive the failing one's TTL: %+v", a)
	}

	// A burst of failing verdicts, far more than their bound holds, leaves
	// the passing verdict where it was.
	for i := range 200 {
		if _, err := r.Do(ctx, fmt.Sprintf("unsigned-%d", i), time.Minute, v.returns(failing, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if r.neg.Bytes() > 4<<10 {
		t.Errorf("failing verdicts hold %d bytes, more than their bound", r.neg.Bytes())
	}
	if a, _ := r.Do(ctx, "good", time.Minute, v.returns(failing, nil)); !a.Cached() || !a.Result.IsSuccess {
		t.Errorf("a burst of failing verdicts evicted a passing one: %+v", a)
	}
}

func TestStaleIfError(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, stale time.Duration) (*Results, *clock, *verifier) {
		c := &clock{now: time.Unix(1000, 0)}
		r := withClock(newResults(t, ResultsOptions{
			TTL: 10 * time.Second, Bytes: 1 << 20, NegativeTTL: time.Second, NegativeBytes: 1 << 20, StaleTTL: stale,
		}), c)
		v := &verifier{}
		if _, err := r.Do(ctx, "k", time.Minute, v.returns(passing, nil)); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Second) // expired
		return r, c, v
	}
	down := fmt.Errorf("GET referrers: %w", errdef.ErrRegistryUnavailable)

	t.Run("served on a transient error, marked", func(t *testing.T) {
		r, c, v := setup(t, time.Minute)
		expired := c.Now()
		for _, cause := range []error{down, errdef.ErrTimeout, errdef.ErrTrustMaterialUnavailable, context.DeadlineExceeded} {
			a, err := r.Do(ctx, "k", time.Minute, v.returns(ratify.Result{}, cause))
			if err != nil || a.Source != SourceStale || !a.Result.IsSuccess || !errors.Is(a.Cause, cause) || !a.ExpiredAt.Equal(expired) {
				t.Errorf("cause %v: %+v %v; want the expired verdict marked stale", cause, a, err)
			}
			if a.Cached() {
				t.Errorf("a stale answer counts as a cache hit")
			}
		}
		if v.Calls() != 5 {
			t.Errorf("%d verifications, want every stale answer to have tried again", v.Calls())
		}
	})
	t.Run("not on other errors", func(t *testing.T) {
		r, _, v := setup(t, time.Minute)
		for _, cause := range []error{errdef.ErrUnauthorized, errdef.ErrInvalidContent, errdef.ErrNotFound, errdef.ErrInvalidConfig} {
			if _, err := r.Do(ctx, "k", time.Minute, v.returns(ratify.Result{}, cause)); !errors.Is(err, cause) {
				t.Errorf("cause %v: err = %v, want it passed on", cause, err)
			}
		}
	})
	t.Run("not after the window", func(t *testing.T) {
		r, c, v := setup(t, time.Minute)
		c.Advance(time.Minute)
		if _, err := r.Do(ctx, "k", time.Minute, v.returns(ratify.Result{}, down)); !errors.Is(err, errdef.ErrRegistryUnavailable) {
			t.Errorf("err = %v, want the outage", err)
		}
	})
	t.Run("off by default", func(t *testing.T) {
		r, _, v := setup(t, 0)
		if _, err := r.Do(ctx, "k", time.Minute, v.returns(ratify.Result{}, down)); !errors.Is(err, errdef.ErrRegistryUnavailable) {
			t.Errorf("err = %v, want the outage", err)
		}
	})
	t.Run("never after a failing verdict", func(t *testing.T) {
		r, c, v := setup(t, time.Minute)
		if a, _ := r.Do(ctx, "k", time.Minute, v.returns(failing, nil)); a.Result.IsSuccess {
			t.Fatalf("the failing verdict was not answered: %+v", a)
		}
		c.Advance(time.Second) // the failing verdict expires
		if a, err := r.Do(ctx, "k", time.Minute, v.returns(ratify.Result{}, down)); !errors.Is(err, errdef.ErrRegistryUnavailable) {
			t.Errorf("%+v %v: a passing verdict older than a failing one was served stale", a, err)
		}
	})
}

// mapShared is a Shared tier in memory, clocked by c.
type mapShared struct {
	c       *clock
	mu      sync.Mutex
	entries map[string]sharedEntry
	gets    int
	down    bool
}

type sharedEntry struct {
	value   []byte
	expires time.Time
}

func (m *mapShared) Get(_ context.Context, key string) ([]byte, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	if m.down {
		return nil, 0, errdef.ErrRegistryUnavailable
	}
	e, ok := m.entries[key]
	if !ok || !m.c.Now().Before(e.expires) {
		return nil, 0, errdef.ErrNotFound
	}
	return e.value, e.expires.Sub(m.c.Now()), nil
}

func (m *mapShared) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errdef.ErrRegistryUnavailable
	}
	m.entries[key] = sharedEntry{value, m.c.Now().Add(ttl)}
	return nil
}

func TestSharedTier(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1000, 0)}
	shared := &mapShared{c: c, entries: map[string]sharedEntry{}}
	opts := ResultsOptions{TTL: 10 * time.Second, Bytes: 1 << 20, NegativeTTL: 2 * time.Second, NegativeBytes: 1 << 20, Shared: shared}
	first, second := withClock(newResults(t, opts), c), withClock(newResults(t, opts), c)
	v := &verifier{}
	withTrace := passing
	withTrace.TraceID = "first-caller"
	if _, err := first.Do(ctx, "good", time.Minute, v.returns(withTrace, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Do(ctx, "bad", time.Minute, v.returns(failing, nil)); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	a, err := second.Do(ctx, "good", time.Minute, v.returns(failing, nil))
	if err != nil || a.Source != SourceShared || !a.Result.IsSuccess || a.Result.TraceID != "" {
		t.Fatalf("second replica: %+v %v; want the first one's verdict from the shared tier, without its trace ID", a, err)
	}
	if a, _ := second.Do(ctx, "bad", time.Minute, v.returns(passing, nil)); a.Source != SourceShared || a.Result.IsSuccess {
		t.Fatalf("second replica, failing verdict: %+v", a)
	}
	if v.Calls() != 2 {
		t.Errorf("%d verifications, want 2 (one per key)", v.Calls())
	}
	gets := shared.gets
	if a, _ := second.Do(ctx, "good", time.Minute, v.returns(failing, nil)); a.Source != SourceMemory || shared.gets != gets {
		t.Errorf("a verdict read from the shared tier is not kept in memory: %+v, %d gets", a, shared.gets-gets)
	}
	// What the shared tier had left of the verdict's life bounds it in
	// memory: 10s from the first verification, not from the read.
	c.Advance(9 * time.Second)
	if a, _ := second.Do(ctx, "good", time.Minute, v.returns(failing, nil)); a.Cached() || a.Result.IsSuccess {
		t.Errorf("a verdict read from the shared tier outlived its TTL: %+v", a)
	}

	// The shared tier down: a miss, and the subject is verified.
	shared.down = true
	third := withClock(newResults(t, opts), c)
	if a, err := third.Do(ctx, "good", time.Minute, v.returns(failing, nil)); err != nil || a.Source != SourceVerified || a.Result.IsSuccess {
		t.Errorf("with the shared tier down: %+v %v; want a verification", a, err)
	}
}

func TestSharedValueBoundedByLocalTTL(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1000, 0)}
	shared := &mapShared{c: c, entries: map[string]sharedEntry{}}
	long := withClock(newResults(t, ResultsOptions{TTL: time.Hour, Bytes: 1 << 20, Shared: shared}), c)
	short := withClock(newResults(t, ResultsOptions{TTL: time.Second, Bytes: 1 << 20, Shared: shared}), c)
	noNegative := withClock(newResults(t, ResultsOptions{TTL: time.Hour, Bytes: 1 << 20, Shared: shared}), c)
	v := &verifier{}
	if _, err := long.Do(ctx, "k", time.Minute, v.returns(passing, nil)); err != nil {
		t.Fatal(err)
	}
	if a, _ := short.Do(ctx, "k", time.Minute, v.returns(passing, nil)); a.Source != SourceShared {
		t.Fatalf("%+v", a)
	}
	c.Advance(time.Second)
	if a, _ := short.Do(ctx, "k", time.Minute, v.returns(passing, nil)); a.Source == SourceMemory {
		t.Errorf("a replica kept a shared verdict in memory longer than its own TTL: %+v", a)
	}
	shared.entries["n"] = sharedEntry{[]byte(`{"version":"0.2.0","isSuccess":false}`), c.Now().Add(time.Hour)}
	if a, _ := noNegative.Do(ctx, "n", time.Minute, v.returns(passing, nil)); a.Source != SourceVerified || !a.Result.IsSuccess {
		t.Errorf("a replica that keeps no failing verdicts served one from the shared tier: %+v", a)
	}
}

// TestCloseEndsBackgroundVerifications checks that a verification going
// on after its caller stopped waiting is cancelled by Close, which returns
// only once it has ended, and that nothing is verified after Close.
func TestCloseEndsBackgroundVerifications(t *testing.T) {
	r := newResults(t, ResultsOptions{TTL: time.Minute, Bytes: 1 << 20})
	started, ended := make(chan struct{}), make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		_, err := r.Do(ctx, "k", time.Hour, func(vctx context.Context) (ratify.Result, error) {
			close(started)
			<-vctx.Done()
			ended <- vctx.Err()
			return ratify.Result{}, vctx.Err()
		})
		errs <- err
	}()
	<-started
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("caller: %v, want context.Canceled", err)
	}
	select {
	case err := <-ended:
		t.Fatalf("the verification ended with its caller (%v); it should go on until Close", err)
	default:
	}
	r.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("verification ended with %v, want context.Canceled", err)
		}
	default:
		t.Fatal("Close returned before the verification in flight ended")
	}
	_, err := r.Do(context.Background(), "other", time.Hour, func(context.Context) (ratify.Result, error) {
		t.Error("verify ran after Close")
		return ratify.Result{IsSuccess: true}, nil
	})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// claimingShared is a mapShared that is also a Claimer, in memory.
type claimingShared struct {
	*mapShared
	claimed map[string]bool
	held    int   // claims refused because another held them
	err     error // every Claim fails with it when set
	// before, when set, runs at the start of every Claim, with s.mu held.
	before func()
}

func (s *claimingShared) Claim(_ context.Context, key string, _ time.Duration) (func(), bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.before != nil {
		s.before()
	}
	if s.err != nil {
		return func() {}, false, s.err
	}
	if s.claimed[key] {
		s.held++
		return func() {}, false, nil
	}
	s.claimed[key] = true
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.claimed, key)
	}, true, nil
}

func (s *claimingShared) heldCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// waitHeld waits until some replica found a claim held n times.
func waitHeld(t *testing.T, s *claimingShared, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); s.heldCount() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica ever found the claim held")
		}
	}
}

// TestClaimedVerificationsAcrossReplicas: of two replicas asked for the
// same key at once, the one that claims it verifies and the other answers
// with its verdict from the shared tier; when the claimant's verification
// ends in an error (no verdict), the other verifies; a Claimer that cannot
// be asked leaves each replica to verify.
func TestClaimedVerificationsAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Unix(1000, 0)}
	shared := &claimingShared{mapShared: &mapShared{c: c, entries: map[string]sharedEntry{}}, claimed: map[string]bool{}}
	opts := ResultsOptions{TTL: 10 * time.Second, Bytes: 1 << 20, NegativeTTL: 2 * time.Second, NegativeBytes: 1 << 20, Shared: shared}
	first, second := withClock(newResults(t, opts), c), withClock(newResults(t, opts), c)
	v := &verifier{}

	// run starts first verifying key until proceed is closed, with result res and err.
	run := func(key string, res ratify.Result, err error) (chan struct{}, chan error) {
		proceed, done := make(chan struct{}), make(chan error, 1)
		started := make(chan struct{})
		go func() {
			_, err := first.Do(ctx, key, time.Minute, func(ctx context.Context) (ratify.Result, error) {
				close(started)
				<-proceed
				return v.returns(res, err)(ctx)
			})
			done <- err
		}()
		<-started
		return proceed, done
	}

	proceed, done := run("k", passing, nil)
	answer := make(chan Answer, 1)
	go func() {
		a, err := second.Do(ctx, "k", time.Minute, v.returns(failing, nil))
		if err != nil {
			t.Error(err)
		}
		answer <- a
	}()
	waitHeld(t, shared, 1)
	close(proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a := <-answer; a.Source != SourceShared || !a.Result.IsSuccess || v.Calls() != 1 {
		t.Fatalf("second replica: %+v after %d verifications; want the first one's verdict, verified once", a, v.Calls())
	}

	// The claimant could not verify: the other verifies once it lets go.
	proceed, done = run("e", ratify.Result{}, errdef.ErrRegistryUnavailable)
	go func() {
		a, _ := second.Do(ctx, "e", time.Minute, v.returns(failing, nil))
		answer <- a
	}()
	waitHeld(t, shared, 2)
	close(proceed)
	if err := <-done; !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("claimant: %v", err)
	}
	if a := <-answer; a.Source != SourceVerified || a.Result.IsSuccess || v.Calls() != 3 {
		t.Fatalf("after the claimant's error: %+v after %d verifications; want the second replica's own", a, v.Calls())
	}

	// The Claimer unavailable: verify.
	shared.err = errdef.ErrRegistryUnavailable
	if a, err := second.Do(ctx, "u", time.Minute, v.returns(passing, nil)); err != nil || a.Source != SourceVerified {
		t.Fatalf("Claimer down: %+v %v; want a verification", a, err)
	}
}

// TestCloseEndsWaitForAnotherReplica: a replica waiting for another's
// verdict stops waiting when it is closed.
func TestCloseEndsWaitForAnotherReplica(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	shared := &claimingShared{mapShared: &mapShared{c: c, entries: map[string]sharedEntry{}}, claimed: map[string]bool{"k": true}}
	r := withClock(newResults(t, ResultsOptions{TTL: time.Minute, Bytes: 1 << 20, Shared: shared}), c)
	errs := make(chan error, 1)
	go func() {
		_, err := r.Do(context.Background(), "k", time.Hour, (&verifier{}).returns(passing, nil))
		errs <- err
	}()
	waitHeld(t, shared, 1)
	r.Close()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting replica after Close: %v, want context.Canceled", err)
	}
}

// TestClaimWonAfterTheVerdictArrived: a replica that finds the claim free
// after waiting for it looks for the verdict again before verifying: the
// claimant may have written it and let go since the last look.
func TestClaimWonAfterTheVerdictArrived(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	shared := &claimingShared{mapShared: &mapShared{c: c, entries: map[string]sharedEntry{}}, claimed: map[string]bool{"k": true}}
	claims := 0
	shared.before = func() {
		if claims++; claims == 2 { // the claimant finishes just before the second look
			shared.entries["k"] = sharedEntry{[]byte(`{"version":"0.2.0","isSuccess":true}`), c.Now().Add(time.Minute)}
			delete(shared.claimed, "k")
		}
	}
	r := withClock(newResults(t, ResultsOptions{TTL: time.Minute, Bytes: 1 << 20, Shared: shared}), c)
	v := &verifier{}
	a, err := r.Do(context.Background(), "k", time.Minute, v.returns(failing, nil))
	if err != nil || a.Source != SourceShared || !a.Result.IsSuccess || v.Calls() != 0 {
		t.Fatalf("%+v %v after %d verifications; want the claimant's verdict", a, err, v.Calls())
	}
	if shared.claimed["k"] {
		t.Error("the claim won only to read the verdict was not let go")
	}
}
