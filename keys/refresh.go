package keys

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// DefaultRefreshInterval is how long refreshed material is served before
// it is fetched again, when RefreshOptions.Interval is zero.
const DefaultRefreshInterval = 5 * time.Minute

// maxBriefError bounds Status.BriefError.
const maxBriefError = 120

// FetchFunc obtains a provider's material, and the properties of every
// item, dropped ones included.
type FetchFunc func(ctx context.Context) (Material, []Properties, error)

// RefreshOptions configure a Refreshing provider. The zero value refreshes
// every DefaultRefreshInterval by the system clock.
type RefreshOptions struct {
	// Interval is how long material is served before it is fetched again.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Refreshing is a Provider over a FetchFunc: material is fetched when first
// asked for and again when asked for after Interval has passed since the
// last attempt, on the caller's goroutine and context (so nothing runs in
// the background and nothing can leak); concurrent callers share one
// fetch. When a fetch fails, the last good material keeps being served and
// Status reports the error.
type Refreshing struct {
	fetch    FetchFunc
	interval time.Duration
	now      func() time.Time

	sem chan struct{} // held while fetching

	mu        sync.Mutex
	material  Material
	good      bool // material was fetched at least once
	attempted time.Time
	status    Status
}

// NewRefreshing returns a provider that fetches with fetch.
func NewRefreshing(fetch FetchFunc, opts RefreshOptions) *Refreshing {
	r := &Refreshing{fetch: fetch, interval: opts.Interval, now: opts.Now, sem: make(chan struct{}, 1)}
	if r.interval <= 0 {
		r.interval = DefaultRefreshInterval
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Material returns the current material, fetching it first when it is due
// (Provider). If the context ends while another caller fetches, the last
// good material is returned.
func (r *Refreshing) Material(ctx context.Context) (Material, error) {
	if m, ok := r.fresh(); ok {
		return m, nil
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return r.lastGood(ctx.Err())
	}
	defer func() { <-r.sem }()
	if m, ok := r.fresh(); ok { // fetched while we waited
		return m, nil
	}
	err := r.refreshLocked(ctx)
	return r.lastGood(err)
}

// Refresh fetches now, whether or not the material is due; an error means
// this fetch failed (older material is still served).
func (r *Refreshing) Refresh(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.sem }()
	return r.refreshLocked(ctx)
}

// Run refreshes every Interval until ctx ends, for callers that want
// material refreshed ahead of verifications. It blocks; run it on a
// goroutine whose context is cancelled at shutdown.
func (r *Refreshing) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = r.Refresh(ctx) // reported in Status
		}
	}
}

// Status reports the last refresh (Provider).
func (r *Refreshing) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Properties = append([]Properties(nil), s.Properties...)
	return s
}

func (r *Refreshing) fresh() (Material, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	due := r.attempted.IsZero() || !r.now().Before(r.attempted.Add(r.interval))
	return r.material, r.good && !due
}

func (r *Refreshing) lastGood(err error) (Material, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.good {
		return r.material, nil
	}
	if err == nil {
		err = fmt.Errorf("no material fetched")
	}
	return Material{}, err
}

func (r *Refreshing) refreshLocked(ctx context.Context) error {
	m, props, err := r.fetch(ctx)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempted = now
	if err != nil {
		r.status.Success = false
		r.status.Error = err.Error()
		r.status.BriefError = brief(err.Error())
		return err
	}
	r.material, r.good = m, true
	r.status = Status{Success: true, LastFetched: now, Properties: props}
	return nil
}

// brief shortens an error message to its first line and maxBriefError bytes.
func brief(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > maxBriefError {
		s = s[:maxBriefError-3] + "..."
	}
	return s
}
