package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// MaxStaleTTL bounds ResultsOptions.StaleTTL: how long past its expiry a
// passing verdict may still be served while re-verification cannot
// complete.
const MaxStaleTTL = 10 * time.Minute

// ResultsOptions size a Results. The zero value keeps nothing and only
// coalesces concurrent verifications of one key.
type ResultsOptions struct {
	// TTL is how long a passing verdict (IsSuccess) is served; Bytes bounds
	// the passing verdicts kept in memory, measured as twice their JSON
	// (each is kept decoded and encoded, see Answer.JSON). Zero keeps none.
	TTL   time.Duration
	Bytes int64
	// NegativeTTL is how long a failing verdict is served; NegativeBytes
	// bounds the failing verdicts kept in memory, apart from the passing
	// ones, so that a burst of admissions of unsigned images cannot evict
	// good verdicts. Zero keeps none. Errors (could not verify) are never
	// kept.
	NegativeTTL   time.Duration
	NegativeBytes int64
	// StaleTTL (at most MaxStaleTTL; zero turns it off) is the
	// stale-if-error window W: when a passing verdict has been expired for
	// less than W and verifying the subject again ends in a transient error
	// (registry unavailable, deadline exceeded, trust material unavailable;
	// not a failing verdict, and not an error about credentials or
	// content), the expired verdict is served, marked SourceStale.
	//
	// The trade-off: while the registry or the key vault is down, an image
	// that passed once keeps being admitted for up to W after its verdict
	// expired, even if its signer was revoked in the meantime in a way that
	// does not change the configuration (a certificate removed from a key
	// vault, say; a change to the configuration changes the key, so it
	// takes effect at once). Passing verdicts are kept in memory for TTL+W
	// to allow this, within Bytes. A verdict only ever served stale is
	// never written back: each replica serves stale only what it verified
	// or read itself.
	StaleTTL time.Duration
	// Shared, when set, is a second tier consulted on a memory miss (once
	// for all the callers of a key) and written with every verdict, for
	// the verdict's TTL. An error from it is a miss: the subject is
	// verified, never allowed.
	Shared Shared
}

// Shared is a store that several replicas share: the second tier of
// Results, and of Store's tag resolutions (see cache/redis). Values are
// opaque to it; an implementation authenticates them, so that a value it
// returns was written by a replica holding the same key, under the same
// cache key.
type Shared interface {
	// Get returns the value stored under key and how much longer it may be
	// served. A value that is missing, expired, too large or fails
	// authentication is an error, as is a store that cannot be reached in
	// time; the caller treats every error as a miss.
	Get(ctx context.Context, key string) (value []byte, ttl time.Duration, err error)
	// Set stores value under key for ttl, best effort.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// Claimer is a Shared through which replicas agree which of them verifies
// a key (see cache/redis's Client.Claim): the one that wins verifies, the
// others wait for its verdict in the shared tier instead of verifying too.
type Claimer interface {
	// Claim claims key for at most hold. won: the caller verifies and calls
	// release when done. Otherwise another replica verifies key. An error
	// (the store unavailable) leaves the caller to verify on its own;
	// release is never nil.
	Claim(ctx context.Context, key string, hold time.Duration) (release func(), won bool, err error)
}

// How often a replica that lost a claim looks for the winner's verdict:
// first after claimPollMin, then twice as long each time, up to
// claimPollMax.
const (
	claimPollMin = 10 * time.Millisecond
	claimPollMax = 400 * time.Millisecond
)

// Results keeps verification results for a while and makes concurrent
// verifications of the same key share one run. Keys must name what the
// result depends on: the subject pinned to its digest and the content of
// the configuration that produced it (see ResultKey), never a tag.
//
// Only verdicts are kept: a verification that returned an error (registry
// unreachable, deadline) is not a verdict, and the next caller tries again.
// Passing and failing verdicts are kept apart, each with its own TTL and
// bound.
type Results struct {
	opts  ResultsOptions
	pos   *LRU[kept] // passing verdicts, kept TTL+StaleTTL; nil: none
	neg   *LRU[kept] // failing verdicts; nil: none
	group singleflight.Group
	now   func() time.Time

	// life ends the verifications in flight when Close is called; flights
	// counts them, so that Close returns once they have.
	life    context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	closed  bool
	flights sync.WaitGroup
}

// kept is a verdict in memory, with its JSON encoding (Answer.JSON).
type kept struct {
	res   ratify.Result
	json  []byte
	fresh time.Time // served as fresh until then
	size  int64
}

// NewResults returns a cache sized by opts; a StaleTTL above MaxStaleTTL
// is an error wrapping errdef.ErrInvalidConfig.
func NewResults(opts ResultsOptions) (*Results, error) {
	if opts.StaleTTL < 0 || opts.StaleTTL > MaxStaleTTL {
		return nil, fmt.Errorf("stale-if-error window %s: want 0 (off) to %s: %w", opts.StaleTTL, MaxStaleTTL, errdef.ErrInvalidConfig)
	}
	r := &Results{opts: opts, now: time.Now}
	r.life, r.stop = context.WithCancel(context.Background())
	keptSize := func(k kept) int64 { return k.size }
	if opts.TTL > 0 && opts.Bytes > 0 {
		r.pos = NewLRU(opts.Bytes, keptSize)
	} else {
		r.opts.StaleTTL = 0 // nothing passing is kept to serve stale
	}
	if opts.NegativeTTL > 0 && opts.NegativeBytes > 0 {
		r.neg = NewLRU(opts.NegativeBytes, keptSize)
	}
	return r, nil
}

// ResultKey is the cache key of a verification of subject (registry/repo@digest)
// under the configuration whose content digest is configDigest
// (config.Config.Digest: config.json's SHA-256, or what config.Compose makes
// of it and the parts laid over it) and scope (a namespace with its own
// configuration, or "" for the cluster's), for the artifact types asked for.
// It names the same verification on every replica, whatever order they
// loaded their configurations in, and no result made under another
// configuration.
func ResultKey(configDigest, scope, subject string, artifactTypes []string) string {
	if artifactTypes == nil && plainJSON(configDigest) && plainJSON(scope) && plainJSON(subject) {
		// What json.Marshal makes of it, without its reflection: keys are
		// computed for every key of every request.
		return `["` + configDigest + `","` + scope + `","` + subject + `",null]`
	}
	key, _ := json.Marshal([]any{configDigest, scope, subject, artifactTypes})
	return string(key)
}

// plainJSON reports whether encoding/json quotes s by only adding the
// quotes: printable ASCII, none of the characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// Do returns the result kept under key, or runs verify, once for all the
// callers that ask for key meanwhile, and keeps its verdict. verify runs
// under a context that no single caller can cancel (its values are ctx's),
// bounded by timeout; each caller waits at most until its own ctx ends. The
// shared tier, if any, is asked within the same flight and bound. After
// Close, Do answers only from memory; anything else is an error wrapping
// ErrClosed.
func (r *Results) Do(ctx context.Context, key string, timeout time.Duration, verify func(context.Context) (ratify.Result, error)) (Answer, error) {
	if a, ok := r.fresh(key); ok {
		return a, nil
	}
	ch := r.group.DoChan(key, func() (any, error) {
		if !r.begin() {
			return nil, fmt.Errorf("verify: %w", ErrClosed)
		}
		defer r.flights.Done()
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		defer context.AfterFunc(r.life, cancel)()
		return r.fill(vctx, key, verify)
	})
	select {
	case out := <-ch:
		if out.Err != nil {
			return Answer{}, out.Err
		}
		return out.Val.(Answer), nil
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
}

// ErrClosed is what Do returns for a verification asked for after Close.
var ErrClosed = errors.New("the result cache is closed: the server is shutting down")

// begin counts a flight in, unless Close has been called.
func (r *Results) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.flights.Add(1)
	return true
}

// Close cancels the verifications in flight, including those that go on
// after their callers stopped waiting, and returns once they have ended.
func (r *Results) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	r.flights.Wait()
}

// fill answers key from the shared tier, or by verifying.
func (r *Results) fill(ctx context.Context, key string, verify func(context.Context) (ratify.Result, error)) (Answer, error) {
	if a, ok := r.fresh(key); ok { // kept by a flight that ended after our look
		return a, nil
	}
	if a, ok := r.fromShared(ctx, key); ok {
		return a, nil
	}
	a, release, err := r.claim(ctx, key)
	switch {
	case err != nil:
		if a, ok := r.stale(key, err); ok {
			return a, nil
		}
		return Answer{}, err
	case release == nil:
		return a, nil // another replica's verdict
	}
	defer release()
	res, err := verify(ctx)
	if err != nil {
		if a, ok := r.stale(key, err); ok {
			return a, nil
		}
		return Answer{}, err
	}
	res.TraceID = "" // the caller's, not part of the verdict
	b := r.keep(ctx, key, res)
	return Answer{Result: res, JSON: b, Source: SourceVerified}, nil
}

// claim returns once this replica may verify key (with what ends its claim
// on it), or with the verdict another replica that claimed key first wrote
// to the shared tier (release nil), or when ctx ends first. Without a
// Claimer, or when it cannot be asked, this replica verifies at once.
func (r *Results) claim(ctx context.Context, key string) (Answer, func(), error) {
	c, ok := r.opts.Shared.(Claimer)
	if !ok {
		return Answer{}, func() {}, nil
	}
	hold := time.Minute
	if d, ok := ctx.Deadline(); ok {
		hold = time.Until(d)
	}
	t := time.NewTimer(claimPollMin)
	defer t.Stop()
	for wait, waited := claimPollMin, false; ; wait, waited = min(2*wait, claimPollMax), true {
		release, won, err := c.Claim(ctx, key, hold)
		if won && waited {
			// The replica that held the claim may have written its verdict
			// and let go since this one last looked.
			if a, ok := r.fromShared(ctx, key); ok {
				release()
				return a, nil, nil
			}
		}
		if won || err != nil {
			return Answer{}, release, nil
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return Answer{}, nil, fmt.Errorf("waiting for another replica's verdict: %w", context.Cause(ctx))
		case <-t.C:
		}
		if a, ok := r.fromShared(ctx, key); ok {
			return a, nil, nil
		}
	}
}

// fresh returns the verdict kept in memory under key, unless it expired.
func (r *Results) fresh(key string) (Answer, bool) {
	if r.pos != nil {
		if k, ok := r.pos.Get(key); ok && r.now().Before(k.fresh) {
			return Answer{Result: k.res, JSON: k.json, Source: SourceMemory}, true
		}
	}
	if r.neg != nil {
		if k, ok := r.neg.Get(key); ok {
			return Answer{Result: k.res, JSON: k.json, Source: SourceMemory}, true
		}
	}
	return Answer{}, false
}

// Cached returns the fresh verdict kept in memory under key, if any, as Do
// would answer it without waiting for anything.
func (r *Results) Cached(key string) (Answer, bool) { return r.fresh(key) }

// fromShared returns the verdict the shared tier has under key, keeping
// it in memory for what remains of its life (at most this replica's TTL).
func (r *Results) fromShared(ctx context.Context, key string) (Answer, bool) {
	if r.opts.Shared == nil {
		return Answer{}, false
	}
	b, ttl, err := r.opts.Shared.Get(ctx, key)
	if err != nil {
		return Answer{}, false
	}
	var res ratify.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return Answer{}, false
	}
	// Encoded again, so that Answer.JSON is this version's encoding of
	// what this version understood, whichever replica wrote it.
	if b, err = json.Marshal(res); err != nil {
		return Answer{}, false
	}
	if !r.remember(key, res, b, ttl) {
		return Answer{}, false // this replica keeps no verdicts of the kind
	}
	return Answer{Result: res, JSON: b, Source: SourceShared}, true
}

// keep stores a fresh verdict in memory and in the shared tier, and
// returns its JSON (nil if it has none).
func (r *Results) keep(ctx context.Context, key string, res ratify.Result) []byte {
	b, err := json.Marshal(res)
	if err != nil {
		return nil
	}
	ttl := r.ttl(res)
	if !r.remember(key, res, b, ttl) || r.opts.Shared == nil {
		return b
	}
	// The verification may have used most of ctx's time; the write has its
	// own bound, and its failures are the tier's to report.
	_ = r.opts.Shared.Set(context.WithoutCancel(ctx), key, b, ttl)
	return b
}

// ttl is how long a verdict like res is served.
func (r *Results) ttl(res ratify.Result) time.Duration {
	if res.IsSuccess {
		return r.opts.TTL
	}
	return r.opts.NegativeTTL
}

// remember keeps res in memory for ttl, bounded by its kind's TTL, and
// drops what was kept of the other kind under key (a failing verdict ends
// any chance of serving an older passing one stale). It reports whether
// verdicts of res's kind are kept at all.
func (r *Results) remember(key string, res ratify.Result, enc []byte, ttl time.Duration) bool {
	into, other, grace := r.neg, r.pos, time.Duration(0)
	if res.IsSuccess {
		into, other, grace = r.pos, r.neg, r.opts.StaleTTL
	}
	if other != nil {
		other.Remove(key)
	}
	ttl = min(ttl, r.ttl(res))
	if into == nil || ttl <= 0 {
		return false
	}
	k := kept{res: res, json: enc, fresh: r.now().Add(ttl), size: 2*int64(len(enc)) + int64(len(key)) + 128}
	into.Add(key, k, ttl+grace)
	return true
}

// stale returns the expired passing verdict kept under key when err, the
// error of verifying it again, is transient and the verdict expired less
// than StaleTTL ago.
func (r *Results) stale(key string, err error) (Answer, bool) {
	if r.opts.StaleTTL <= 0 || !Transient(err) {
		return Answer{}, false
	}
	k, ok := r.pos.Get(key) // the LRU drops it StaleTTL after expiry
	if !ok {
		return Answer{}, false
	}
	return Answer{Result: k.res, JSON: k.json, Source: SourceStale, ExpiredAt: k.fresh, Cause: err}, true
}

// Transient reports whether err means that a verification could not
// complete for a reason expected to pass (a registry or key vault
// unavailable, a deadline), which alone allows serving a stale verdict.
// Failed credentials, malformed content, missing artifacts and
// configuration errors are not transient.
func Transient(err error) bool {
	for _, target := range []error{errdef.ErrRegistryUnavailable, errdef.ErrTimeout, errdef.ErrTrustMaterialUnavailable, context.DeadlineExceeded} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Len returns the number of results kept in memory, stale ones included.
func (r *Results) Len() int {
	n := 0
	for _, l := range []*LRU[kept]{r.pos, r.neg} {
		if l != nil {
			n += l.Len()
		}
	}
	return n
}
