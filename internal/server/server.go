package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/cache/redis"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/netguard"
	"github.com/openratify/ratify/internal/telemetry"
	"github.com/openratify/ratify/keys"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/verifier/notation"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	// ConfigPath is config.json; it is watched and reloaded when it changes.
	ConfigPath string
	// Addr is the provider's listen address (default ":6001").
	Addr string
	// CertDir holds tls.crt and tls.key; empty serves plain HTTP.
	CertDir string
	// ClientCAFile, with CertDir, requires clients to present a
	// certificate signed by one of its CAs (mutual TLS).
	ClientCAFile string
	// HealthAddr serves /healthz and /readyz (default ":9099"); "-" turns it off.
	HealthAddr string
	// MetricsAddr serves Prometheus /metrics (default ":8888"); "-" turns it off.
	MetricsAddr string

	// CacheTTL is how long a passing verification result is reused
	// (default 10s); CacheBytes bounds the passing results kept (default
	// 256 MiB). A negative CacheTTL turns caching of passing results off
	// (concurrent verifications of one image are still done once).
	// Results are keyed by the configuration's content (config.Config.Digest),
	// so that replicas sharing them (Redis) agree on keys.
	CacheTTL   time.Duration
	CacheBytes int64
	// NegativeCacheTTL is how long a failing verdict is reused (default 2s,
	// or CacheTTL if shorter; negative: never): long enough to answer a
	// burst of admissions of one unsigned image (a Deployment's pods, the
	// controller's retries) with one verification, short enough that an
	// image signed a moment ago passes on the next attempt. Ratify v1 has
	// one TTL for both. NegativeCacheBytes bounds them apart from passing
	// ones (default 32 MiB), so that such a burst cannot evict good
	// verdicts. Errors (could not verify) are never kept.
	NegativeCacheTTL   time.Duration
	NegativeCacheBytes int64
	// CacheStaleTTL (default 0: off; at most 10m) is the stale-if-error
	// window: a passing verdict expired for less than it is served, marked
	// "stale" in the result, counted and logged, when verifying again ends
	// in a transient error (registry or key vault unavailable, deadline);
	// never after a failing verdict. The price: while the registry is
	// down, an image whose signer was revoked without a configuration
	// change (a certificate removed from a key vault) is admitted for up to
	// this long after its verdict expired. A registry that hangs rather
	// than fails runs into the request deadline first, which no stale
	// verdict answers. See cache.ResultsOptions.StaleTTL.
	CacheStaleTTL time.Duration
	// Redis, when its Addr is set, shares results between replicas.
	Redis RedisOptions
	// ContentCacheBytes bounds the registry manifests and blobs kept by
	// digest (default 64 MiB; negative: none). TagTTL is how long a tag's
	// digest is reused (default 5s; negative: never).
	ContentCacheBytes int64
	TagTTL            time.Duration
	// TagStaleTTL is how long a tag's last digest is still used when the
	// registry cannot be asked again (unavailable, throttling): default 1m,
	// negative: never (see cache.StoreOptions.TagStaleTTL).
	TagStaleTTL time.Duration
	// ReferrersStaleTTL is how long a subject's last referrers listing is
	// used again, instead of listing anew, while its registry throttles:
	// default 1m, negative: never (see cache.StoreOptions.ReferrersStaleTTL).
	ReferrersStaleTTL time.Duration

	// MaxBodyBytes (default 4 MiB) and MaxKeys (default 4096) bound a request.
	MaxBodyBytes int64
	MaxKeys      int
	// KeyConcurrency bounds the keys of one request verified at once (default 16).
	KeyConcurrency int
	// BackgroundVerification is how long a verification may go on after
	// the request that started it gave up (its deadline is
	// executor.verificationRequestTimeout), so that Gatekeeper's retries,
	// which join it, find its verdict instead of starting over: under a
	// throttling registry, verification keeps going at the pace the
	// registry allows. Default 30s; never less than the request deadline.
	BackgroundVerification time.Duration
	// ReloadInterval is how often config.json is checked for changes (default 2s).
	ReloadInterval time.Duration
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (default 5s), so that slow clients cannot hold
	// connections; the whole request has twice as long.
	ReadHeaderTimeout time.Duration
	// ShutdownTimeout is how long in-flight requests may finish after the
	// server is told to stop (default 10s).
	ShutdownTimeout time.Duration

	// Ready, when set, must return nil for /readyz to report ready (with
	// --enable-crd-manager: until the Kubernetes resources have been read);
	// its error is the 503 answer's body.
	Ready func() error

	// KeyVault are the runtime settings of Azure Key Vault key management
	// providers (credential, transport, clock); the zero value reaches
	// Azure with workload or managed identity.
	KeyVault azurekeyvault.Options

	// TracerProvider, when set, receives the spans of requests: each
	// provider request's server span (continuing the caller's W3C
	// traceparent), a span per key, and the executor's spans with the
	// registry calls and OCSP and CRL fetches under them (see
	// internal/telemetry). If it has a Shutdown(context.Context) error
	// method (the SDK's does), Run calls it after the listeners closed,
	// within ShutdownTimeout, to flush what is queued. Nil: no spans.
	TracerProvider trace.TracerProvider

	// Logger receives the structured logs; nil means slog.Default().
	Logger *slog.Logger
	// OnListen, when set, is told each listener's name (provider, health,
	// metrics) and address once it listens.
	OnListen func(listener, addr string)
}

func (o *Options) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Addr, ":6001")
	def(&o.HealthAddr, ":9099")
	def(&o.MetricsAddr, ":8888")
	o.CacheTTL = orDefault(o.CacheTTL, 10*time.Second)
	o.CacheBytes = orDefault(o.CacheBytes, 256<<20)
	o.NegativeCacheTTL = orDefault(o.NegativeCacheTTL, min(2*time.Second, o.CacheTTL))
	o.NegativeCacheBytes = orDefault(o.NegativeCacheBytes, 32<<20)
	o.ContentCacheBytes = orDefault(o.ContentCacheBytes, 64<<20)
	o.TagTTL = orDefault(o.TagTTL, 5*time.Second)
	o.TagStaleTTL = orDefault(o.TagStaleTTL, time.Minute)
	o.ReferrersStaleTTL = orDefault(o.ReferrersStaleTTL, time.Minute)
	o.MaxBodyBytes = orDefault(o.MaxBodyBytes, 4<<20)
	o.MaxKeys = orDefault(o.MaxKeys, 4096)
	o.KeyConcurrency = orDefault(o.KeyConcurrency, 16)
	o.BackgroundVerification = orDefault(o.BackgroundVerification, 30*time.Second)
	o.ReloadInterval = orDefault(o.ReloadInterval, 2*time.Second)
	o.ReadHeaderTimeout = orDefault(o.ReadHeaderTimeout, 5*time.Second)
	o.ShutdownTimeout = orDefault(o.ShutdownTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// orDefault returns v, or def when v is zero; negative values stay (they
// mean "off" where the option says so).
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Server is the external data provider with its health and metrics
// listeners.
type Server struct {
	opts         Options
	log          *slog.Logger
	engine       *engine
	results      *cache.Results
	metrics      *metrics
	cacheMetrics *cacheMetrics
	tracer       trace.Tracer  // nil: no spans
	shared       *redis.Client // nil: no shared tier
	closeOnce    sync.Once
	buffers      sync.Pool // of *[]byte, for encoding answers (see write)
}

// New loads the configuration and builds the engine; an invalid
// configuration or TLS material, or cache options that do not hold
// together (an unreadable HMAC key file), is an error here, before
// anything listens. Redis is not contacted: it being down only costs
// verifications. Run, or Close, releases its connections.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	s := &Server{opts: opts, log: opts.Logger, metrics: newMetrics()}
	s.cacheMetrics = newCacheMetrics(s.metrics.registry)
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(telemetry.TracerName)
	}
	stages := &telemetry.Stages{Tracer: s.tracer, Observe: s.metrics.stage}
	var err error
	if s.results, err = s.newResults(opts); err != nil {
		return nil, err
	}
	storeOpts := cache.StoreOptions{ContentBytes: max(opts.ContentCacheBytes, 0), TagTTL: max(opts.TagTTL, 0),
		TagStaleTTL: max(opts.TagStaleTTL, 0), ReferrersStaleTTL: max(opts.ReferrersStaleTTL, 0)}
	if s.shared != nil {
		storeOpts.Shared = s.shared.Tags() // what one replica got from a registry serves all
	}
	s.engine = &engine{
		path:      opts.ConfigPath,
		storeOpts: storeOpts,
		metrics:   s.metrics,
		stages:    stages,
		log:       s.log,
		build: config.BuildOptions{
			OnRegistryResponse: s.metrics.registryResponse,
			OnVerifier:         s.metrics.verifier,
			KeyPool:            config.NewKeyPool(),
			Timeout:            -1, // bounded by the result cache's budget (see verifyKey)
			KeyVault:           opts.KeyVault,
			Tracer:             stages.ExecutorTracer(),
			RevocationHTTPClient: &http.Client{Timeout: notation.DefaultHTTPTimeout,
				Transport: stages.Transport(netguard.Transport())},
			Logger: s.log,
		},
	}
	if _, err := s.engine.load(); err != nil {
		s.closeShared()
		return nil, err
	}
	return s, nil
}

// Close ends the verifications still in flight (those kept going for
// BackgroundVerification after their callers stopped waiting) and
// releases what New holds open (the connections to a shared result
// cache). Run calls it when it returns; Close after that does nothing.
func (s *Server) Close() {
	s.results.Close()
	s.closeShared()
}

// SetOverlay rebuilds the engine from config.json and o (the Kubernetes
// resources' configuration). If the result does not build, the running
// engine keeps serving and the error says why.
func (s *Server) SetOverlay(o Overlay) error {
	if err := s.engine.setOverlay(o); err != nil {
		return err
	}
	s.log.Info("configuration from cluster resources applied", "generation", s.engine.current.Load().id, "namespaces", len(o.Namespaces))
	return nil
}

// KeyProviderStatus returns the status of the key management provider
// named name in the configuration in force (Kubernetes resources' names:
// "name" cluster-wide, "namespace/name" for namespaced ones), after making
// sure it has tried to fetch its material. It reports false when no
// configuration in force declares it.
func (s *Server) KeyProviderStatus(ctx context.Context, name string) (keys.Status, bool) {
	return s.engine.build.KeyPool.Fetch(ctx, name)
}

// Handler returns the provider's HTTP handler (verify and mutate).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(verifyPath, telemetry.Handler(s.tracer, verifyPath, http.HandlerFunc(s.serveVerify)))
	mux.Handle(mutatePath, telemetry.Handler(s.tracer, mutatePath, http.HandlerFunc(s.serveMutate)))
	return mux
}

// Run listens and serves until ctx ends, then shuts down gracefully:
// listeners close, in-flight requests get ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	var tlsFiles string
	provider := s.httpServer(s.Handler())
	if s.opts.CertDir != "" {
		cfg, err := newTLSConfig(s.opts.CertDir, s.opts.ClientCAFile, s.log)
		if err != nil {
			return err
		}
		provider.TLSConfig = cfg
		tlsFiles = s.opts.CertDir
	} else if s.opts.ClientCAFile != "" {
		return fmt.Errorf("--ca-cert-file needs --cert-dir: mutual TLS needs TLS: %w", errdef.ErrInvalidConfig)
	}
	type listener struct {
		name string
		addr string
		srv  *http.Server
	}
	listeners := []listener{{"provider", s.opts.Addr, provider}}
	if s.opts.HealthAddr != "-" {
		listeners = append(listeners, listener{"health", s.opts.HealthAddr, s.httpServer(s.healthHandler())})
	}
	if s.opts.MetricsAddr != "-" {
		listeners = append(listeners, listener{"metrics", s.opts.MetricsAddr, s.httpServer(s.metrics.handler())})
	}

	lns := make([]net.Listener, 0, len(listeners))
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, open := range lns {
				open.Close()
			}
			return fmt.Errorf("%s listener on %s: %w", l.name, l.addr, err)
		}
		lns = append(lns, ln)
	}
	g, ctx := errgroup.WithContext(ctx)
	for i, l := range listeners {
		ln := lns[i]
		s.log.Info("listening", "listener", l.name, "addr", ln.Addr().String(), "tls", l.name == "provider" && tlsFiles != "")
		if s.opts.OnListen != nil {
			s.opts.OnListen(l.name, ln.Addr().String())
		}
		g.Go(func() error {
			var err error
			if l.srv.TLSConfig != nil {
				err = l.srv.ServeTLS(ln, "", "")
			} else {
				err = l.srv.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("%s listener: %w", l.name, err)
		})
	}
	g.Go(func() error {
		s.engine.watch(ctx, s.opts.ReloadInterval)
		return nil
	})
	g.Go(func() error {
		s.engine.build.KeyPool.Run(ctx) // key material refreshed ahead of verifications
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		s.log.Info("shutting down", "grace", s.opts.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
		defer cancel()
		var errs []error
		for _, l := range listeners {
			errs = append(errs, l.srv.Shutdown(sctx))
		}
		if tp, ok := s.opts.TracerProvider.(interface{ Shutdown(context.Context) error }); ok {
			if err := tp.Shutdown(sctx); err != nil {
				s.log.Warn("spans could not all be exported", "error", err)
			}
		}
		return errors.Join(errs...)
	})
	return g.Wait()
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       2 * s.opts.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// healthHandler serves /healthz (the process answers) and /readyz (a
// configuration is loaded and the provider can answer).
func (s *Server) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.engine.current.Load() == nil {
			http.Error(w, "no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		if s.opts.Ready != nil {
			if err := s.opts.Ready(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
