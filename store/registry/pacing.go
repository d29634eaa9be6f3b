package registry

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/openratify/ratify/errdef"
)

// A registry that throttles (429 Too Many Requests, OCI distribution-spec
// v1.1 lets it; RFC 6585, section 4) is asked at the rate it grants, learned
// from its answers, instead of as fast as verifications want:
//
//   - Until a registry first answers 429 nothing is paced: a registry that
//     never throttles sees no added latency.
//   - On its first 429 the pace is set to paceCut times the requests it
//     granted in the last second; each later 429 cuts the pace by paceCut
//     again, once per round (a 429 to a request sent before the last cut
//     says nothing new). Each granted request raises the pace by paceGrowth
//     requests/s, about 5% a second at full pace; after paceCalm without a
//     429 the registry is no longer paced.
//   - Its Retry-After holds every request to it until then (at most
//     maxHold); a hold longer than Options.RetryMaxWait fails requests at
//     once rather than keep them waiting.
//   - Requests wait in line, in turn, and go one every 1/pace seconds once
//     the hold has passed, so that a hold's end never releases them all at
//     once.
//   - A request waits in line for at most half the time left before its
//     context's deadline: its caller needs the rest to use the answer (a
//     verification makes several requests in a row, and a tag resolved at
//     the deadline helps no one), and one that fails at once can fall back
//     (a tag's last digest) or be retried later. A request whose turn
//     would come later fails at once, when it asks or when a 429 pushes
//     its turn later, with an error wrapping errdef.ErrRegistryUnavailable
//     that names the throttling: "could not verify", never a silent wait
//     past the deadline.
const (
	paceCut    = 0.7
	paceGrowth = 0.05
	minPace    = 1.0 // requests per second
	paceCalm   = time.Minute
	// maxHold caps how long a registry is left alone on its word, so that
	// one Retry-After of an hour does not deny its images for an hour.
	maxHold = time.Minute
)

// pacer paces the requests of a Store to each registry host. The zero
// value is not usable: see newPacer.
type pacer struct {
	maxWait time.Duration // the longest hold a request waits out
	noPace  bool          // Options.NoPacing: holds only, no learned pace
	now     func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostPace
}

func newPacer(maxWait time.Duration, noPace bool) *pacer {
	return &pacer{maxWait: maxWait, noPace: noPace, now: time.Now, hosts: map[string]*hostPace{}}
}

// turn is when a request was let go to its registry, and whether it
// waited in line for it.
type turn struct {
	at    time.Time
	paced bool
}

// wait returns when a request to host may go: at once if host is not
// paced, else at its turn. A turn that would come after half the time
// left before ctx's deadline is an error wrapping
// errdef.ErrRegistryUnavailable, at once.
func (p *pacer) wait(ctx context.Context, host string) (turn, error) {
	deadline, _ := ctx.Deadline()
	p.mu.Lock()
	now := p.now()
	h := p.hosts[host]
	if h == nil || !h.paced(now) {
		p.mu.Unlock()
		return turn{at: now}, nil
	}
	w, err := h.join(host, now, deadline, p.maxWait)
	p.mu.Unlock()
	if err != nil {
		return turn{}, err
	}
	for {
		p.mu.Lock()
		now := p.now()
		at, d, err := h.next(host, w, now)
		p.mu.Unlock()
		switch {
		case err != nil:
			return turn{}, err
		case d <= 0 && !at.IsZero():
			return turn{at: at, paced: true}, nil
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if d > 0 {
			timer = time.NewTimer(d)
			fire = timer.C
		}
		select {
		case <-w.signal:
		case <-fire:
		case <-ctx.Done():
			p.mu.Lock()
			h.leave(w)
			p.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return turn{}, waitedOut(ctx, host)
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// waitedOut is the error of a request whose context ended in line.
func waitedOut(ctx context.Context, host string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("registry %s is throttling (429 Too Many Requests): the request deadline passed while waiting for a turn: %w: %w",
			host, errdef.ErrRegistryUnavailable, ctx.Err())
	}
	return ctx.Err()
}

// throttling reports whether requests to host wait in line now (or would,
// with NoPacing, during a hold).
func (p *pacer) throttling(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hosts[host]
	return h != nil && h.paced(p.now())
}

// Throttling reports whether the registry host has throttled this Store
// lately (429 Too Many Requests), so that its requests are paced or held
// now; it stays so until a minute without a 429. Callers that can answer
// from what they keep (a tag's last digest) may prefer that to asking
// while it does.
func (s *Store) Throttling(host string) bool { return s.pace.throttling(host) }

// done learns from the answer to a request sent at t: a 429 holds host
// for its Retry-After and cuts its pace; any other answer below 500 counts
// as granted. No answer (err) teaches nothing.
func (p *pacer) done(host string, t turn, resp *http.Response) {
	if resp == nil || resp.StatusCode >= http.StatusInternalServerError {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	h := p.host(host)
	if resp.StatusCode == http.StatusTooManyRequests {
		hold, ok := retryAfter(resp.Header.Get("Retry-After"), now)
		if !ok {
			hold = 0
		}
		h.throttled(host, now, t, hold, p.maxWait, p.noPace)
		return
	}
	h.grant(now)
}

// host returns host's state, made on first use. Past maxLimitedHosts
// hosts, those with no request in line are forgotten.
func (p *pacer) host(host string) *hostPace {
	h, ok := p.hosts[host]
	if ok {
		return h
	}
	if len(p.hosts) >= maxLimitedHosts {
		for k, v := range p.hosts {
			if v.queue.Len() == 0 {
				delete(p.hosts, k)
			}
		}
	}
	h = &hostPace{}
	p.hosts[host] = h
	return h
}

// hostPace is the pace of one registry host and its line of waiting
// requests. Its methods are called with pacer.mu held and take the time.
type hostPace struct {
	rate         float64   // learned pace, requests per second; 0: none
	hold         time.Time // no request before this (Retry-After)
	last         time.Time // the turn of the last request let go in line
	cut          time.Time // when rate was last set or cut
	lastThrottle time.Time // the last 429
	granted      meter     // requests granted lately
	queue        list.List // of *waiter, in turn order
}

// waiter is a request waiting in line.
type waiter struct {
	deadline time.Time     // zero: none
	signal   chan struct{} // something changed: look again
	elem     *list.Element // nil once out of line
	err      error         // set when put out of line for good
}

// paced reports whether a request must wait in line. After paceCalm
// without a 429, and no one in line, the host is no longer paced.
func (h *hostPace) paced(now time.Time) bool {
	if h.rate > 0 && h.queue.Len() == 0 && now.Sub(h.lastThrottle) > paceCalm {
		h.rate = 0
	}
	return h.rate > 0 || h.hold.After(now) || h.queue.Len() > 0
}

func (h *hostPace) interval() time.Duration {
	if h.rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / h.rate)
}

// start is when the request at the head of the line may go.
func (h *hostPace) start(now time.Time) time.Time {
	s := later(now, h.hold)
	if h.rate > 0 {
		s = later(s, h.last.Add(h.interval()))
	}
	return s
}

// turnAt is when the request with ahead requests before it in line may go,
// if the pace holds.
func (h *hostPace) turnAt(ahead int, now time.Time) time.Time {
	return h.start(now).Add(time.Duration(ahead) * h.interval())
}

// join puts a request with deadline at the end of the line, or returns
// why it cannot wait that long.
func (h *hostPace) join(host string, now, deadline time.Time, maxWait time.Duration) (*waiter, error) {
	if err := h.check(host, h.queue.Len(), now, deadline, maxWait); err != nil {
		return nil, err
	}
	w := &waiter{deadline: deadline, signal: make(chan struct{}, 1)}
	w.elem = h.queue.PushBack(w)
	return w, nil
}

// check returns the error of a request with ahead requests before it
// whose turn comes too late: after a hold longer than maxWait, or after
// half the time left before its deadline.
func (h *hostPace) check(host string, ahead int, now, deadline time.Time, maxWait time.Duration) error {
	if held := h.hold.Sub(now); held > maxWait {
		return fmt.Errorf("registry %s is throttling (429 Too Many Requests) and asked not to be asked for another %s, longer than the %s this client waits: %w",
			host, held.Round(time.Millisecond), maxWait, errdef.ErrRegistryUnavailable)
	}
	wait, left := h.turnAt(ahead, now).Sub(now), deadline.Sub(now)
	if deadline.IsZero() || wait <= left/2 {
		return nil
	}
	why := "its Retry-After"
	if h.rate > 0 {
		why = fmt.Sprintf("%d requests ahead, paced at %.3g requests/s", ahead, h.rate)
	}
	return fmt.Errorf("registry %s is throttling (429 Too Many Requests): this request's turn comes in %s (%s), more than half the %s left before the request deadline: %w",
		host, wait.Round(time.Millisecond), why, max(left, 0).Round(time.Millisecond), errdef.ErrRegistryUnavailable)
}

// next tells w, waiting in line, what to do: go now (at its turn, d <= 0),
// wait up to d, or wait to be signalled (zero at and d), or give up (err).
func (h *hostPace) next(host string, w *waiter, now time.Time) (at time.Time, d time.Duration, err error) {
	if w.err != nil {
		return time.Time{}, 0, w.err
	}
	if h.queue.Front() != w.elem {
		return time.Time{}, 0, nil
	}
	s := h.start(now)
	if !w.deadline.IsZero() && s.After(w.deadline) {
		h.expel(w, fmt.Errorf("registry %s is throttling (429 Too Many Requests): this request's turn comes in %s, past the request deadline: %w",
			host, s.Sub(now).Round(time.Millisecond), errdef.ErrRegistryUnavailable))
		return time.Time{}, 0, w.err
	}
	if s.After(now) {
		return s, s.Sub(now), nil
	}
	// Keep to the pace when late by less than a turn; after a longer
	// stall, start again from now rather than let a burst go.
	iv := h.interval()
	h.last = later(later(h.last.Add(iv), h.hold), now.Add(-iv))
	h.leave(w)
	return now, 0, nil
}

// leave takes w out of line (if it still is) and signals the new head.
func (h *hostPace) leave(w *waiter) {
	if w.elem == nil {
		return
	}
	head := h.queue.Front() == w.elem
	h.queue.Remove(w.elem)
	w.elem = nil
	if head {
		h.signalHead()
	}
}

// expel puts w out of line for good with err.
func (h *hostPace) expel(w *waiter, err error) {
	w.err = err
	h.leave(w)
	signal(w)
}

func (h *hostPace) signalHead() {
	if e := h.queue.Front(); e != nil {
		signal(e.Value.(*waiter))
	}
}

func signal(w *waiter) {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// throttled learns from a 429 at now to a request sent at t that asked to
// wait hold (zero: no Retry-After): the host is held, its pace set or cut,
// and the requests in line whose turn now comes too late are told so.
func (h *hostPace) throttled(host string, now time.Time, t turn, hold, maxWait time.Duration, noPace bool) {
	if hold > 0 {
		h.hold = later(h.hold, now.Add(min(hold, maxHold)))
	}
	h.lastThrottle = now
	if !noPace {
		switch {
		case h.rate == 0:
			h.rate = max(minPace, paceCut*h.granted.rate(now))
			h.cut, h.last = now, time.Time{}
		case !t.at.Before(h.cut):
			h.rate = max(minPace, paceCut*h.rate)
			h.cut = now
		}
	}
	ahead := 0
	for e := h.queue.Front(); e != nil; {
		next := e.Next()
		w := e.Value.(*waiter)
		if err := h.check(host, ahead, now, w.deadline, maxWait); err != nil {
			h.expel(w, err)
		} else {
			ahead++
		}
		e = next
	}
	h.signalHead() // its turn may have moved
}

// grant learns from a request granted at now: the pace, if any, grows.
func (h *hostPace) grant(now time.Time) {
	h.granted.add(now)
	if h.paced(now) && h.rate > 0 {
		h.rate += paceGrowth
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// meter counts events over the last second, in two one-second buckets.
type meter struct {
	start     time.Time // of the current bucket
	cur, prev float64
}

func (m *meter) roll(now time.Time) {
	switch el := now.Sub(m.start); {
	case el >= 2*time.Second || el < 0:
		m.start, m.cur, m.prev = now, 0, 0
	case el >= time.Second:
		m.start, m.cur, m.prev = m.start.Add(time.Second), 0, m.cur
	}
}

func (m *meter) add(now time.Time) {
	m.roll(now)
	m.cur++
}

// rate is the events of the last second: all of the current bucket's and
// the part of the previous one's that falls within the second.
func (m *meter) rate(now time.Time) float64 {
	m.roll(now)
	frac := float64(now.Sub(m.start)) / float64(time.Second)
	return m.cur + m.prev*(1-frac)
}
