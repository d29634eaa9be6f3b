package registry

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
)

// The pacer's state machine is tested on a fake clock: each step says
// what time it is, so that nothing here depends on how fast the machine
// runs. The waiting itself is tested against a registry in
// throttle_test.go.

const testHost = "registry.test"

// fakePacer is a pacer whose clock the test sets.
func fakePacer(noPace bool) (*pacer, *time.Time) {
	p := newPacer(5*time.Second, noPace)
	// Real time at first, so that context deadlines compare with it.
	now := time.Now()
	p.now = func() time.Time { return now }
	return p, &now
}

func answer(status int, retryAfter string) *http.Response {
	resp := &http.Response{StatusCode: status, Header: http.Header{}}
	if retryAfter != "" {
		resp.Header.Set("Retry-After", retryAfter)
	}
	return resp
}

// grantN has the registry grant n requests spread evenly over the second
// before now.
func grantN(p *pacer, now *time.Time, n int) {
	start := now.Add(-time.Second)
	for i := range n {
		*now = start.Add(time.Duration(i+1) * time.Second / time.Duration(n))
		p.done(testHost, turn{at: *now}, answer(http.StatusOK, ""))
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPacerLeavesUnthrottledRegistriesAlone(t *testing.T) {
	p, now := fakePacer(false)
	grantN(p, now, 500)
	p.done(testHost, turn{at: *now}, answer(http.StatusServiceUnavailable, "")) // not throttling
	p.done(testHost, turn{at: *now}, answer(http.StatusNotFound, ""))
	tk, err := p.wait(context.Background(), testHost)
	if err != nil || tk.paced {
		t.Fatalf("wait = %+v, %v; want an unpaced turn at once", tk, err)
	}
	if p.throttling(testHost) || p.throttling("other.test") {
		t.Error("a registry that never answered 429 is paced")
	}
}

func TestPaceLearnedFromFirst429(t *testing.T) {
	p, now := fakePacer(false)
	grantN(p, now, 50)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "1"))
	h := p.hosts[testHost]
	if want := paceCut * 50; math.Abs(h.rate-want) > 1 {
		t.Fatalf("pace after the first 429 = %.2f/s, want about %.2f (cut of the 50 granted in the last second)", h.rate, want)
	}
	if !h.hold.Equal(now.Add(time.Second)) {
		t.Errorf("hold until %v, want Retry-After's %v", h.hold, now.Add(time.Second))
	}
	if !p.throttling(testHost) {
		t.Error("not pacing after a 429")
	}
	iv := h.interval()
	for i := range 3 {
		if got, want := h.turnAt(i, *now), now.Add(time.Second+time.Duration(i)*iv); !got.Equal(want) {
			t.Errorf("turn of the request with %d ahead = %v, want %v (after the hold, one every 1/pace)", i, got, want)
		}
	}
}

func TestPaceFloorWithoutGrants(t *testing.T) {
	p, now := fakePacer(false)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, ""))
	h := p.hosts[testHost]
	if h.rate != minPace || !h.hold.IsZero() {
		t.Fatalf("pace %.2f, hold %v after a 429 without Retry-After and nothing granted; want %v/s, no hold", h.rate, h.hold, minPace)
	}
}

func TestPaceCutOncePerRound(t *testing.T) {
	p, now := fakePacer(false)
	grantN(p, now, 100)
	sentBefore := turn{at: now.Add(-10 * time.Millisecond), paced: false}
	p.done(testHost, sentBefore, answer(http.StatusTooManyRequests, "1"))
	h := p.hosts[testHost]
	first := h.rate
	// More 429s to requests sent before the cut: the same round.
	for range 10 {
		*now = now.Add(time.Millisecond)
		p.done(testHost, sentBefore, answer(http.StatusTooManyRequests, "1"))
	}
	if !approx(h.rate, first) {
		t.Fatalf("pace %.3f after 429s to requests sent before the cut, want %.3f unchanged", h.rate, first)
	}
	// A 429 to a request sent at the new pace cuts again.
	*now = now.Add(2 * time.Second)
	p.done(testHost, turn{at: *now, paced: true}, answer(http.StatusTooManyRequests, "1"))
	if want := first * paceCut; !approx(h.rate, want) {
		t.Fatalf("pace %.3f after a 429 in a new round, want %.3f", h.rate, want)
	}
	for range 50 {
		*now = now.Add(2 * time.Second)
		p.done(testHost, turn{at: *now, paced: true}, answer(http.StatusTooManyRequests, "1"))
	}
	if h.rate != minPace {
		t.Errorf("pace %.3f after many cuts, want the floor %v", h.rate, minPace)
	}
}

func TestPaceGrowsAndCalms(t *testing.T) {
	p, now := fakePacer(false)
	grantN(p, now, 20)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "1"))
	h := p.hosts[testHost]
	before := h.rate
	for range 10 {
		*now = now.Add(100 * time.Millisecond)
		p.done(testHost, turn{at: *now, paced: true}, answer(http.StatusOK, ""))
	}
	if want := before + 10*paceGrowth; !approx(h.rate, want) {
		t.Fatalf("pace %.3f after 10 grants, want %.3f", h.rate, want)
	}
	*now = now.Add(paceCalm + time.Second)
	p.done(testHost, turn{at: *now, paced: true}, answer(http.StatusOK, ""))
	if p.throttling(testHost) {
		t.Errorf("still pacing (%.2f/s) after %v without a 429", h.rate, paceCalm)
	}
	// Calm comes with time alone, without requests.
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "1"))
	if !p.throttling(testHost) {
		t.Fatal("not pacing after a new 429")
	}
	*now = now.Add(paceCalm + time.Second)
	if p.throttling(testHost) {
		t.Errorf("still pacing %v after the last 429, with no request since", paceCalm)
	}
}

func TestPaceDeadline(t *testing.T) {
	p, now := fakePacer(false)
	grantN(p, now, 10) // pace 7/s
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "2"))
	h := p.hosts[testHost]

	// Within the hold: a deadline before it fails at once, out of line;
	// so does one that would leave less time after its turn than it waits.
	for _, d := range []time.Duration{time.Second, 3 * time.Second} {
		_, err := h.join(testHost, *now, now.Add(d), p.maxWait)
		wantThrottling(t, err, "more than half the "+d.String()+" left before the request deadline")
	}
	// One that can wait joins; so do the next, until the pace puts the
	// turn past half the time left.
	deadline := now.Add(6 * time.Second) // half of it: the hold and 7 turns
	joined := 0
	for {
		if _, err := h.join(testHost, *now, deadline, p.maxWait); err != nil {
			wantThrottling(t, err, "requests ahead")
			break
		}
		joined++
	}
	if want := int(time.Second/h.interval()) + 1; joined != want {
		t.Errorf("%d requests joined the line, want %d (the turns up to the deadline)", joined, want)
	}
	if h.queue.Len() != joined {
		t.Errorf("%d in line, want %d: a request refused must not hold a turn", h.queue.Len(), joined)
	}
}

// TestHoldLongerThanMaxWait: while more of a Retry-After is left than the
// client waits, requests fail at once, whatever their deadline.
func TestHoldLongerThanMaxWait(t *testing.T) {
	for _, noPace := range []bool{false, true} {
		p, now := fakePacer(noPace)
		p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "3600"))
		h := p.hosts[testHost]
		if !h.hold.Equal(now.Add(maxHold)) {
			t.Errorf("hold until %v, want %v (Retry-After capped)", h.hold, now.Add(maxHold))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		_, err := p.wait(ctx, testHost)
		cancel()
		wantThrottling(t, err, "longer than the 5s this client waits")
		// Once no more than maxWait is left, requests wait for it.
		*now = h.hold.Add(-p.maxWait)
		if _, err := h.join(testHost, *now, time.Time{}, p.maxWait); err != nil {
			t.Errorf("noPace %v: %v with %v of the hold left", noPace, err, p.maxWait)
		}
	}
}

// TestPaceReleasesInTurn walks requests through the line: the head goes at
// its turn, the others wait to be signalled; the next head's turn is one
// interval later.
func TestPaceReleasesInTurn(t *testing.T) {
	p, now := fakePacer(false)
	grantN(p, now, 10)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "1"))
	h := p.hosts[testHost]
	iv := h.interval()
	hold := h.hold
	var ws []*waiter
	for range 3 {
		w, err := h.join(testHost, *now, time.Time{}, p.maxWait)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if at, d, err := h.next(testHost, ws[1], *now); err != nil || !at.IsZero() || d != 0 {
		t.Fatalf("second in line: %v, %v, %v; want to wait for a signal", at, d, err)
	}
	at, d, err := h.next(testHost, ws[0], *now)
	if err != nil || !at.Equal(hold) || d != time.Second {
		t.Fatalf("head within the hold: %v, %v, %v; want to wait until %v", at, d, err, hold)
	}
	*now = hold
	if at, d, err = h.next(testHost, ws[0], *now); err != nil || d > 0 || !at.Equal(hold) {
		t.Fatalf("head at its turn: %v, %v, %v; want to go", at, d, err)
	}
	select {
	case <-ws[1].signal:
	default:
		t.Fatal("the new head was not signalled")
	}
	if _, d, _ = h.next(testHost, ws[1], *now); d != iv {
		t.Errorf("next head waits %v, want one interval %v", d, iv)
	}
	// A stall of many intervals lets one request go at once, not a burst.
	*now = now.Add(10 * iv)
	if _, d, _ = h.next(testHost, ws[1], *now); d > 0 {
		t.Fatalf("after a stall the head waits %v", d)
	}
	if _, d, _ = h.next(testHost, ws[2], *now); d > 0 {
		t.Errorf("after a stall the next head waits %v, want to go at once (one turn of catching up)", d)
	}
	w, _ := h.join(testHost, *now, time.Time{}, p.maxWait)
	if _, d, _ = h.next(testHost, w, *now); d != iv {
		t.Errorf("after catching up the head waits %v, want one interval %v", d, iv)
	}
}

// TestNoPacingReleasesAllAfterHold: without pacing a hold's end lets every
// request in line go at once, as before pacing.
func TestNoPacingReleasesAllAfterHold(t *testing.T) {
	p, now := fakePacer(true)
	grantN(p, now, 50)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "1"))
	h := p.hosts[testHost]
	if h.rate != 0 {
		t.Fatalf("pace %.2f with NoPacing", h.rate)
	}
	var ws []*waiter
	for range 5 {
		w, err := h.join(testHost, *now, time.Time{}, p.maxWait)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	*now = h.hold
	for i, w := range ws {
		if _, d, err := h.next(testHost, w, *now); err != nil || d > 0 {
			t.Fatalf("request %d at the hold's end: waits %v, %v", i, d, err)
		}
	}
	if p.throttling(testHost) {
		t.Error("NoPacing: still holding after the hold")
	}
}

// TestLaterHoldExpelsWaiters: a 429 that holds the registry longer puts
// out of line, at once, the requests whose turn now comes after their
// deadline, and only those.
func TestLaterHoldExpelsWaiters(t *testing.T) {
	p, now := fakePacer(false)
	grantN(p, now, 10)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "1"))
	h := p.hosts[testHost]
	soon, _ := h.join(testHost, *now, now.Add(2*time.Second), p.maxWait)
	late, _ := h.join(testHost, *now, now.Add(time.Minute), p.maxWait)
	none, _ := h.join(testHost, *now, time.Time{}, p.maxWait)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "4"))
	select {
	case <-soon.signal:
	default:
		t.Fatal("the request whose deadline the new hold passes was not told")
	}
	if _, _, err := h.next(testHost, soon, *now); !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("expelled request: %v, want ErrRegistryUnavailable", err)
	}
	if h.queue.Len() != 2 || h.queue.Front() != late.elem || none.elem == nil {
		t.Errorf("%d in line, want the two that can wait, in order", h.queue.Len())
	}
	// A Retry-After longer than the client waits expels everyone.
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "30"))
	for _, w := range []*waiter{late, none} {
		if _, _, err := h.next(testHost, w, *now); !errors.Is(err, errdef.ErrRegistryUnavailable) {
			t.Errorf("after a 30s hold: %v, want ErrRegistryUnavailable", err)
		}
	}
	if h.queue.Len() != 0 {
		t.Errorf("%d still in line", h.queue.Len())
	}
}

// TestPacerWaitGivesUp: a request that cannot wait fails at once; one whose
// caller cancels leaves the line and lets the next go first.
func TestPacerWaitGivesUp(t *testing.T) {
	p, now := fakePacer(false)
	p.done(testHost, turn{at: *now}, answer(http.StatusTooManyRequests, "3"))
	// The fake clock never reaches the hold: only the deadline ends this.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Second))
	defer cancel()
	_, err := p.wait(ctx, testHost)
	wantThrottling(t, err, "request deadline")
	if p.hosts[testHost].queue.Len() != 0 {
		t.Fatal("a request that could not wait holds a turn")
	}

	ctx, cancel = context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := p.wait(ctx, testHost); errc <- err }()
	for inLine(p) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while in line: %v, want context.Canceled", err)
	}
	if n := inLine(p); n != 0 {
		t.Errorf("%d in line after the only waiter gave up", n)
	}
}

func inLine(p *pacer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hosts[testHost].queue.Len()
}

func TestMeter(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var m meter
	for i := range 10 {
		m.add(t0.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	if r := m.rate(t0.Add(999 * time.Millisecond)); r != 10 {
		t.Errorf("rate within the first second = %v, want 10", r)
	}
	if r := m.rate(t0.Add(1500 * time.Millisecond)); !approx(r, 5) {
		t.Errorf("rate half a second later = %v, want 5", r)
	}
	if r := m.rate(t0.Add(5 * time.Second)); r != 0 {
		t.Errorf("rate after a quiet while = %v, want 0", r)
	}
}

func wantThrottling(t *testing.T, err error, text string) {
	t.Helper()
	if !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("error %v, want one wrapping ErrRegistryUnavailable", err)
	}
	if !strings.Contains(err.Error(), "throttling") || !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not name the throttling and %q", err, text)
	}
}
