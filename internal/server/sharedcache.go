package server

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/cache/redis"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
)

// RedisOptions configure the shared tier of the result cache: replicas
// pointed at one Redis answer a key that any of them verified, and share
// the tags they resolve (for --tag-cache-ttl; see cache/redis). Every replica must read the same HMAC key and run the same
// configuration and trust material; a deployment with other trust
// material must use another HMAC key (its entries are then invisible to
// this one).
type RedisOptions struct {
	// Addr is the server's "host:port"; empty: no shared tier.
	Addr string
	// PasswordFile holds the password of the server (AUTH), if it needs
	// one; a trailing newline is not part of it.
	PasswordFile string
	// HMACKeyFile holds the secret (at least 32 bytes; surrounding white
	// space is ignored) that authenticates every value, such as a file of
	// a mounted Kubernetes Secret. Required with Addr.
	HMACKeyFile string
	// Timeout bounds each call to Redis (default 100ms, at most 1s).
	Timeout time.Duration
	// TLS talks TLS to the server, which managed Redis services require,
	// trusting the system's roots unless CAFile is set.
	TLS bool
	// CAFile is a PEM bundle of the CAs trusted, instead of the system's
	// roots, to have issued the server's certificate; it implies TLS. It is
	// read once, by New.
	CAFile string
}

// maxRedisCABytes bounds the CA bundle of RedisOptions.CAFile.
const maxRedisCABytes = 4 << 20

// cacheMetrics are the result cache's metrics beyond the hit counter.
type cacheMetrics struct {
	stale  prometheus.Counter
	shared *prometheus.CounterVec
}

func newCacheMetrics(reg *prometheus.Registry) *cacheMetrics {
	m := &cacheMetrics{
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ratify_result_cache_stale_count",
			Help: "Passing verdicts served after they expired, because verifying again could not complete (--cache-stale-ttl).",
		}),
		shared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_shared_cache_count",
			Help: "Calls to the shared result cache (Redis), by operation (get, set: verdicts; tag_get, tag_set: registry answers replicas share, such as tag resolutions; claim: which replica verifies an image) and outcome; outcome rejected counts values that failed their HMAC.",
		}, []string{"op", "outcome"}),
	}
	reg.MustRegister(m.stale, m.shared)
	return m
}

func (m *cacheMetrics) sharedCall(op, outcome string) {
	m.shared.WithLabelValues(op, outcome).Inc()
}

// newResults builds the result cache of opts: passing and failing verdicts
// in memory, and the shared tier when opts.Redis names a server.
func (s *Server) newResults(opts Options) (*cache.Results, error) {
	ro := cache.ResultsOptions{
		TTL: max(opts.CacheTTL, 0), Bytes: max(opts.CacheBytes, 0),
		NegativeTTL: max(opts.NegativeCacheTTL, 0), NegativeBytes: max(opts.NegativeCacheBytes, 0),
		StaleTTL: max(opts.CacheStaleTTL, 0),
	}
	if opts.Redis.Addr != "" {
		if ro.TTL == 0 && ro.NegativeTTL == 0 {
			return nil, fmt.Errorf("a shared result cache (%s) needs result caching on: %w", opts.Redis.Addr, errdef.ErrInvalidConfig)
		}
		shared, err := s.newRedis(opts.Redis)
		if err != nil {
			return nil, err
		}
		s.shared, ro.Shared = shared, shared
	}
	r, err := cache.NewResults(ro)
	if err != nil {
		s.closeShared()
		return nil, fmt.Errorf("result cache: %w", err)
	}
	return r, nil
}

func (s *Server) newRedis(o RedisOptions) (*redis.Client, error) {
	if o.HMACKeyFile == "" {
		return nil, fmt.Errorf("a shared result cache needs an HMAC key file, so that no one without it can write verdicts: %w", errdef.ErrInvalidConfig)
	}
	key, err := redis.ReadKeyFile(o.HMACKeyFile)
	if err != nil {
		return nil, err
	}
	var passwordFunc func() (string, error)
	if o.PasswordFile != "" {
		if passwordFunc, err = passwordReader(o.PasswordFile); err != nil {
			return nil, err
		}
	}
	tlsConfig, err := redisTLS(o)
	if err != nil {
		return nil, err
	}
	c, err := redis.New(redis.Options{
		Addr: o.Addr, PasswordFunc: passwordFunc, Key: key, Timeout: o.Timeout, TLS: tlsConfig,
		Logger: s.log.With("component", "shared-cache"), Observe: s.cacheMetrics.sharedCall,
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("sharing verification results and tag resolutions through Redis", "addr", o.Addr, "timeout", cmp.Or(o.Timeout, redis.DefaultTimeout), "tls", tlsConfig != nil)
	return c, nil
}

// passwordReader reads the password file at path now (an error if it
// cannot) and returns what reads it again for each new connection to
// Redis, so that a rotated password is taken up without a restart; a later
// read that fails gives the last password read.
func passwordReader(path string) (func() (string, error), error) {
	first, err := redis.ReadPasswordFile(path)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	last := first
	return func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if p, err := redis.ReadPasswordFile(path); err == nil {
			last = p
		}
		return last, nil
	}, nil
}

// redisTLS returns the TLS configuration of o, nil for plain TCP. Errors
// name the flag that gave the file.
func redisTLS(o RedisOptions) (*tls.Config, error) {
	if !o.TLS && o.CAFile == "" {
		return nil, nil
	}
	if o.CAFile == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12}, nil // the system's roots
	}
	data, err := limitedfile.Read(o.CAFile, maxRedisCABytes)
	pool := x509.NewCertPool()
	if err == nil && !pool.AppendCertsFromPEM(data) {
		err = fmt.Errorf("%s holds no PEM certificate", o.CAFile)
	}
	if err != nil {
		return nil, fmt.Errorf("--cache-redis-ca-file: %w: %w", err, errdef.ErrInvalidConfig)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// closeShared closes the connections to the shared tier, once.
func (s *Server) closeShared() {
	s.closeOnce.Do(func() {
		if s.shared != nil {
			_ = s.shared.Close()
		}
	})
}
