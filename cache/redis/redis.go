// Package redis is the shared tier of ratify's result cache (cache.Shared)
// on a Redis server, so that replicas of the provider answer a key that
// any of them verified, and of its tag cache (Client.Tags), so that a tag
// one of them resolved is not resolved again at the registry by the
// others. It speaks RESP2 through go-redis to one server, over TCP or TLS.
//
// Every value is sealed with HMAC-SHA256 (RFC 2104) under a key only the
// replicas hold: the MAC covers the cache key and the value and its
// expiry, so a value written by anyone without the key, copied under
// another key, or written again after it expired, is rejected and treated
// as a miss. Verdicts and tag resolutions are sealed under different keys
// and domains, so that neither can pass for the other. Entry names are
// "ratify:v1:result:" (or "ratify:v1:tag:") and a keyed SHA-256 of the
// cache key. Redis enforces the TTL (SET with PX).
//
// Replicas also tell each other which of them verifies a key (Claim,
// "ratify:v1:lease:" entries, sealed too), so that an image a rollout sends
// to every replica at once is verified by one of them.
//
// The tier is bounded and optional: values are capped in size, every call
// has a short timeout, and after consecutive failures a circuit stops
// calling Redis for a while. Redis down or slow costs a verification, never
// a request and never an "allow".
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/openratify/ratify/errdef"
)

// ErrUnavailable is the error of a call that Redis did not answer in time
// or refused, or that the open circuit kept from being made.
var ErrUnavailable = errors.New("shared result cache unavailable")

// Defaults and bounds of Options.
const (
	DefaultTimeout       = 100 * time.Millisecond
	MaxTimeout           = time.Second
	DefaultMaxValueBytes = 256 << 10
	DefaultBreakAfter    = 3
	DefaultBreakFor      = 10 * time.Second
	DefaultLeaseTTL      = 5 * time.Second
)

// Options configure a Client. Addr and Key are required; zero values of
// the others take the defaults noted.
type Options struct {
	// Addr is the server's "host:port".
	Addr string
	// Username and Password authenticate to the server (AUTH); empty: none.
	Username, Password string
	// PasswordFunc, when set, gives the password of each new connection
	// instead of Password, so that a rotated password (a managed Redis's
	// access key regenerated, its Secret updated) is used from the next
	// connection on, without a restart.
	PasswordFunc func() (string, error)
	// TLS, when set, is how to talk TLS to the server (RootCAs nil: the
	// system's roots); nil: plain TCP. New raises MinVersion to TLS 1.2 and
	// sets ServerName to Addr's host when empty.
	TLS *tls.Config
	// Key is the HMAC secret, at least MinKeyBytes long (see ReadKeyFile).
	Key []byte
	// Timeout bounds each call, connecting included (default 100ms, at most
	// MaxTimeout).
	Timeout time.Duration
	// MaxValueBytes bounds a value written or read (default 256 KiB).
	MaxValueBytes int
	// BreakAfter consecutive failures (default 3) stop calls for BreakFor
	// (default 10s), after which one call probes whether Redis is back.
	BreakAfter int
	BreakFor   time.Duration
	// LeaseTTL (default 5s) is how long a claim (Claim) outlives its
	// holder: a replica renews its claims every LeaseTTL/3 while it
	// verifies, so that the claims of one that died lapse within LeaseTTL
	// and another replica verifies instead.
	LeaseTTL time.Duration
	// Logger receives the few lines worth logging: the circuit opening and
	// closing, and the first value rejected. nil: slog.Default().
	Logger *slog.Logger
	// Observe, when set, is told the outcome of each call: op "get" with
	// "hit", "miss", "rejected" (failed its HMAC), "expired" (past the
	// expiry sealed in it), "too_large", "error" or "skipped" (circuit
	// open); op "set" with "stored", "too_large", "error" or "skipped".
	// Calls of the Tags view (registry answers: tags, referrers listings,
	// content) are ops "tag_get" and "tag_set". Op "claim"
	// (Claim) has "won", "held" (by another replica), "rejected" (a claim
	// that failed its HMAC or outlived its hold, ignored), "error" or
	// "skipped".
	Observe func(op, outcome string)
}

// Client is a cache.Shared on one Redis server, for verdicts; its Tags
// view is one for tag resolutions. It is safe for concurrent use.
type Client struct {
	*conn
	keys  keys
	what  string // what its values are, for logs
	getOp string // the ops it reports to Options.Observe
	setOp string
}

// conn is what a Client and its Tags view share: the connections to Redis
// and the circuit that stops calling it.
type conn struct {
	rdb      *redis.Client
	opts     Options
	circuit  *breaker
	leases   keys // of claims on verifications (Claim)
	now      func() time.Time
	rejected atomic.Bool // a rejection was logged
}

// New returns a client of the server at opts.Addr. It does not connect:
// the first call does, and Redis being down is never an error here.
func New(opts Options) (*Client, error) {
	switch {
	case opts.Addr == "":
		return nil, fmt.Errorf("redis: no server address: %w", errdef.ErrInvalidConfig)
	case len(opts.Key) < MinKeyBytes:
		return nil, fmt.Errorf("redis: HMAC key of %d bytes, want at least %d: %w", len(opts.Key), MinKeyBytes, errdef.ErrInvalidConfig)
	case opts.Timeout < 0 || opts.Timeout > MaxTimeout:
		return nil, fmt.Errorf("redis: timeout %s, want up to %s: %w", opts.Timeout, MaxTimeout, errdef.ErrInvalidConfig)
	}
	opts.Timeout = cmpOr(opts.Timeout, DefaultTimeout)
	opts.MaxValueBytes = cmpOr(opts.MaxValueBytes, DefaultMaxValueBytes)
	opts.BreakAfter = cmpOr(opts.BreakAfter, DefaultBreakAfter)
	opts.BreakFor = cmpOr(opts.BreakFor, DefaultBreakFor)
	opts.LeaseTTL = max(cmpOr(opts.LeaseTTL, DefaultLeaseTTL), 3*time.Millisecond)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tlsConfig, err := clientTLS(opts.TLS, opts.Addr)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: &conn{opts: opts, now: time.Now, leases: deriveKeys(opts.Key, leaseEntries)}, keys: deriveKeys(opts.Key, resultEntries), what: "verdict", getOp: "get", setOp: "set"}
	c.circuit = &breaker{after: opts.BreakAfter, cool: opts.BreakFor, now: func() time.Time { return c.now() }}
	var credentials func(context.Context) (string, string, error)
	if opts.PasswordFunc != nil {
		credentials = func(context.Context) (string, string, error) {
			p, err := opts.PasswordFunc()
			return opts.Username, p, err
		}
	}
	c.rdb = redis.NewClient(&redis.Options{
		Addr: opts.Addr, Username: opts.Username, Password: opts.Password,
		CredentialsProviderContext: credentials,
		TLSConfig:                  tlsConfig,
		Protocol:                   2, // plain RESP2: no HELLO, no push notifications
		DisableIdentity:            true,
		MaintNotificationsConfig:   &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// One attempt per call, each bounded by Timeout: a retry would
		// only delay the verification that a miss leads to.
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           opts.Timeout,
		ReadTimeout:           opts.Timeout,
		WriteTimeout:          opts.Timeout,
		PoolTimeout:           opts.Timeout,
		ContextTimeoutEnabled: true,
		PoolSize:              32,
		MaxActiveConns:        64,
	})
	return c, nil
}

// clientTLS returns a copy of c for the server at addr, or nil for plain
// TCP. TLS 1.2 is the floor rather than 1.3 because 1.2 is what managed
// Redis services all offer (Azure Cache for Redis requires at least 1.2).
// The name checked against the server's certificate is addr's host unless c
// names another: crypto/tls's dialer infers it too, but only through the
// dialer go-redis happens to use.
func clientTLS(c *tls.Config, addr string) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	c = c.Clone()
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("redis: address %q names no host to check the server's certificate against: %w", addr, errdef.ErrInvalidConfig)
		}
		c.ServerName = host
	}
	return c, nil
}

// Tags returns a view of c for what replicas share of registries' answers
// (a cache.Shared for cache.StoreOptions): tag resolutions, and the last
// tags, referrers listings and content cache.Store keeps. The same server,
// connections and circuit; entries named "ratify:v1:tag:..." and sealed
// under keys of their own, so that a verdict can never be read as a tag's
// digest nor the other way round. Closing either closes both.
func (c *Client) Tags() *Client {
	return &Client{conn: c.conn, keys: deriveKeys(c.opts.Key, tagEntries), what: "tag resolution", getOp: "tag_get", setOp: "tag_set"}
}

// EntryName is the Redis key under which the value of cacheKey is stored.
func (c *Client) EntryName(cacheKey string) string { return c.keys.entryName(cacheKey) }

// Get returns the value stored under cacheKey and how much longer it may be
// served: the smaller of what Redis says remains of its TTL and what
// remains until the expiry sealed in it. A miss is errdef.ErrNotFound, a
// value that fails its HMAC errdef.ErrInvalidContent, an oversized one
// errdef.ErrSizeExceedsLimit, Redis down, slow or skipped ErrUnavailable.
func (c *Client) Get(ctx context.Context, cacheKey string) ([]byte, time.Duration, error) {
	if !c.circuit.allow() {
		c.observe(c.getOp, "skipped")
		return nil, 0, fmt.Errorf("circuit open: %w", ErrUnavailable)
	}
	callCtx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	name := c.keys.entryName(cacheKey)
	var value *redis.StringCmd
	var pttl *redis.DurationCmd
	_, err := c.rdb.Pipelined(callCtx, func(p redis.Pipeliner) error {
		// GETRANGE reads at most one byte more than a value may hold.
		value = p.GetRange(callCtx, name, 0, int64(headerBytes+c.opts.MaxValueBytes))
		pttl = p.PTTL(callCtx, name)
		return nil
	})
	if err != nil {
		return nil, 0, c.failed(ctx, c.getOp, err)
	}
	c.succeeded()
	sealed := []byte(value.Val())
	switch {
	case len(sealed) == 0: // GETRANGE of a missing key is ""
		c.observe(c.getOp, "miss")
		return nil, 0, fmt.Errorf("%s: %w", name, errdef.ErrNotFound)
	case len(sealed) > headerBytes+c.opts.MaxValueBytes:
		c.observe(c.getOp, "too_large")
		return nil, 0, fmt.Errorf("%s: value larger than %d bytes: %w", name, c.opts.MaxValueBytes, errdef.ErrSizeExceedsLimit)
	}
	payload, notAfter, err := c.keys.open(cacheKey, sealed)
	if err != nil {
		c.reject(name, err)
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	ttl := notAfter.Sub(c.now())
	if d := pttl.Val(); d > 0 {
		ttl = min(ttl, d)
	}
	if ttl <= 0 {
		c.observe(c.getOp, "expired")
		return nil, 0, fmt.Errorf("%s: expired at %s: %w", name, notAfter.UTC().Format(time.RFC3339Nano), errdef.ErrNotFound)
	}
	c.observe(c.getOp, "hit")
	return payload, ttl, nil
}

// Set stores value under cacheKey for ttl (at millisecond resolution;
// less than a millisecond stores nothing). A value larger than
// MaxValueBytes is errdef.ErrSizeExceedsLimit and not stored.
func (c *Client) Set(ctx context.Context, cacheKey string, value []byte, ttl time.Duration) error {
	ttl = ttl.Truncate(time.Millisecond)
	switch {
	case ttl <= 0:
		return nil
	case len(value) > c.opts.MaxValueBytes:
		c.observe(c.setOp, "too_large")
		return fmt.Errorf("value of %d bytes, more than %d: %w", len(value), c.opts.MaxValueBytes, errdef.ErrSizeExceedsLimit)
	case !c.circuit.allow():
		c.observe(c.setOp, "skipped")
		return fmt.Errorf("circuit open: %w", ErrUnavailable)
	}
	callCtx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	sealed := c.keys.seal(cacheKey, value, c.now().Add(ttl))
	if err := c.rdb.Set(callCtx, c.keys.entryName(cacheKey), sealed, ttl).Err(); err != nil {
		return c.failed(ctx, c.setOp, err)
	}
	c.succeeded()
	c.observe(c.setOp, "stored")
	return nil
}

// Close closes the connections to Redis (of every view of them).
func (c *Client) Close() error { return c.rdb.Close() }

// failed records a failed call and returns its error as ErrUnavailable.
// A call cut short by the caller's own context (ctx is the caller's, before
// the per-call timeout) says nothing about Redis and does not count towards
// opening the circuit.
func (c *Client) failed(ctx context.Context, op string, err error) error {
	c.observe(op, "error")
	if ctx.Err() != nil {
		c.circuit.release()
		return fmt.Errorf("redis %s: %v: %w", op, ctx.Err(), ErrUnavailable)
	}
	if opened, _ := c.circuit.done(true); opened {
		c.opts.Logger.Warn("shared result cache unavailable; answering from memory and verifying, without it for a while",
			"addr", c.opts.Addr, "error", err, "retry_in", c.opts.BreakFor)
	}
	return fmt.Errorf("redis %s: %v: %w", op, err, ErrUnavailable)
}

func (c *Client) succeeded() {
	if _, closed := c.circuit.done(false); closed {
		c.opts.Logger.Info("shared result cache reachable again", "addr", c.opts.Addr)
	}
}

// reject counts a value that failed its HMAC and logs the first one.
func (c *Client) reject(name string, err error) {
	c.observe(c.getOp, "rejected")
	if c.rejected.CompareAndSwap(false, true) {
		c.opts.Logger.Warn("shared result cache: a value failed authentication and is ignored "+
			"(written without this HMAC key, or moved from another entry; logged once, counted in the metrics)",
			"entry", name, "kind", c.what, "error", err)
	}
}

func (c *Client) observe(op, outcome string) {
	if c.opts.Observe != nil {
		c.opts.Observe(op, outcome)
	}
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// SetDriverLogger sends what go-redis logs (through a logger it keeps for
// the whole process, by default printing to standard error) to l at level
// Debug: failures worth an operator's attention are logged by Client, once
// per circuit change, rather than once per dial. Call it from main.
func SetDriverLogger(l *slog.Logger) { redis.SetLogger(driverLogger{l}) }

// driverLogger is go-redis's logging interface over slog.
type driverLogger struct{ l *slog.Logger }

func (d driverLogger) Printf(ctx context.Context, format string, v ...any) {
	d.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
