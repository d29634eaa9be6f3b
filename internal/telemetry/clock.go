package telemetry

import (
	"context"
	"slices"
	"sync"
	"time"
)

// waits collects the intervals that one verifier call spent waiting on
// registries and revocation servers, so that the call's own time can be
// told apart. The intervals may overlap (notation-go checks a chain's
// certificates concurrently); covered counts overlapping time once.
type waits struct {
	mu        sync.Mutex
	intervals [][2]time.Time
}

type waitsKey struct{}

// withWaits returns ctx with a new collector of waits.
func withWaits(ctx context.Context) (context.Context, *waits) {
	w := &waits{}
	return context.WithValue(ctx, waitsKey{}, w), w
}

// addWait records that ctx's verifier call waited from start to end, if
// ctx belongs to one.
func addWait(ctx context.Context, start, end time.Time) {
	if w, ok := ctx.Value(waitsKey{}).(*waits); ok {
		w.mu.Lock()
		w.intervals = append(w.intervals, [2]time.Time{start, end})
		w.mu.Unlock()
	}
}

// covered returns how much of [from, to] the recorded waits cover.
func (w *waits) covered(from, to time.Time) time.Duration {
	w.mu.Lock()
	iv := slices.Clone(w.intervals)
	w.mu.Unlock()
	slices.SortFunc(iv, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var total time.Duration
	cur := from // time before cur is counted or outside [from, to]
	for _, i := range iv {
		start, end := later(i[0], cur), earlier(i[1], to)
		if end.After(start) {
			total += end.Sub(start)
			cur = end
		}
	}
	return total
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
