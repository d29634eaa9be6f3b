package token

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var errDown = errors.New("token service down")

// source issues numbered tokens living an hour; release gates each fetch.
type source struct {
	clk     *clock
	calls   atomic.Int32
	fail    atomic.Bool
	release chan struct{}
}

func (s *source) fetch(ctx context.Context, _ string) (Token[int], error) {
	n := int(s.calls.Add(1))
	if s.release != nil {
		<-s.release
	}
	if s.fail.Load() {
		return Token[int]{}, errDown
	}
	return Token[int]{Value: n, Expiry: s.clk.Now().Add(time.Hour)}, nil
}

func TestSharedFetch(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	src := &source{clk: clk, release: make(chan struct{})}
	c := New(src.fetch, Options{Now: clk.Now})
	var wg sync.WaitGroup
	got := make([]int, 16)
	for i := range got {
		wg.Go(func() {
			v, err := c.Get(context.Background(), "k")
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(src.release)
	wg.Wait()
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	for _, v := range got {
		if v != 1 {
			t.Fatalf("got %v, want all 1", got)
		}
	}
}

// TestRefreshAhead: near expiry the old token is served while one
// background fetch replaces it; a failed refresh keeps the old token and is
// retried only after RetryAfter; an expired token is never served.
func TestRefreshAhead(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	src := &source{clk: clk}
	c := New(src.fetch, Options{Now: clk.Now, RefreshBefore: 5 * time.Minute, RetryAfter: time.Minute})
	ctx := context.Background()
	get := func(want int) {
		t.Helper()
		v, err := c.Get(ctx, "k")
		if err != nil || v != want {
			t.Fatalf("Get = %d, %v; want %d", v, err, want)
		}
	}
	wait := func(calls int32) {
		for src.calls.Load() < calls {
			time.Sleep(time.Millisecond)
		}
		// The fetch has been called; let it store its result.
		c.mu.Lock()
		for c.entries["k"].inflight != nil {
			c.mu.Unlock()
			time.Sleep(time.Millisecond)
			c.mu.Lock()
		}
		c.mu.Unlock()
	}
	get(1)
	clk.Advance(50 * time.Minute)
	get(1) // not yet in the refresh window
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	src.fail.Store(true)
	clk.Advance(6 * time.Minute) // 4 minutes left
	get(1)
	wait(2)
	get(1) // the refresh failed: old token, no new attempt before RetryAfter
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	src.fail.Store(false)
	clk.Advance(time.Minute)
	get(1)
	wait(3)
	get(3)
	clk.Advance(2 * time.Hour) // expired: wait for a new one
	src.fail.Store(true)
	if _, err := c.Get(ctx, "k"); !errors.Is(err, errDown) {
		t.Fatalf("Get of an expired token with the service down: err = %v, want errDown", err)
	}
}

// TestCallerCancel: a caller giving up does not fail the fetch others share.
func TestCallerCancel(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	src := &source{clk: clk, release: make(chan struct{})}
	c := New(src.fetch, Options{Now: clk.Now})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := c.Get(ctx, "k"); errc <- err }()
	for src.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v", err)
	}
	close(src.release)
	if v, err := c.Get(context.Background(), "k"); err != nil || v != 1 {
		t.Fatalf("Get = %d, %v; want the shared fetch's 1", v, err)
	}
}
