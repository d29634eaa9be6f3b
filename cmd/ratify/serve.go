package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel"

	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/cache/redis"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/telemetry"
)

func newServeCommand() *cobra.Command {
	var (
		opts           server.Options
		metricsPort    string
		metricsEnabled bool
		metricsType    string
		cacheEnabled   bool
		cacheType      string
		cacheName      string
		cacheSizeMiB   int64
		negSizeMiB     int64
		logLevel       string
		crdManager     bool
		kubeconfig     string
		leaderElect    bool
		otlpEndpoint   string
	)
	cmd := &cobra.Command{
		Use:   "serve --http ADDR -c CONFIG [--cert-dir DIR [--ca-cert-file FILE]]",
		Short: "Serve OPA Gatekeeper's external data provider (verify and mutate)",
		Long: `serve answers Gatekeeper's external data requests on
POST /ratify/gatekeeper/v1/verify (the verification result of each image)
and POST /ratify/gatekeeper/v1/mutate (each image pinned to its digest).

TLS 1.3 with tls.crt and tls.key from --cert-dir, reloaded when they change on
disk; mutual TLS when --ca-cert-file names the CA of the clients (Gatekeeper).
config.json is reloaded when it changes; a broken file is reported and the last
good configuration keeps serving. Health on --health-port (/healthz, /readyz),
Prometheus metrics on --metrics-port (/metrics).

Spans of each request, verification, registry call, OCSP or CRL fetch,
verifier call and policy decision are exported with OTLP when
--tracing-otlp-endpoint or the OpenTelemetry environment variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
OTEL_EXPORTER_OTLP_PROTOCOL grpc or http/protobuf, OTEL_SERVICE_NAME,
OTEL_TRACES_SAMPLER...) say where; otherwise none are made.

Verification results are reused: passing ones for --cache-ttl, failing ones
for --cache-negative-ttl, in memory; with --cache-type redis also through
Redis, so that replicas answer what any of them verified (values authenticated
with the key in --cache-hmac-key-file). Errors are never reused.`,
		Example: `  ratify serve --http :6001 -c config.json --cert-dir /usr/local/tls --ca-cert-file /usr/local/tls/client-ca/ca.crt
  ratify serve -c config.json --cache-type redis --cache-address redis:6379 --cache-hmac-key-file /run/secrets/ratify-cache/hmac-key
  ratify serve -c config.json --cache-type redis --cache-address NAME.redis.cache.windows.net:6380 --cache-redis-tls \
    --cache-password-file /run/secrets/ratify-cache/password --cache-hmac-key-file /run/secrets/ratify-cache/hmac-key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if metricsType != "prometheus" {
				return fmt.Errorf("--metrics-type %q: only prometheus is available: %w", metricsType, errdef.ErrInvalidConfig)
			}
			_ = cacheName // Ratify v1 names its Dapr cache with it; ours need no name.
			if err := cacheFlags(cmd, &opts, cacheType, cacheEnabled); err != nil {
				return err
			}
			cfg, err := config.Load(opts.ConfigPath)
			if err != nil {
				return err
			}
			if opts.ConfigPath == "" {
				opts.ConfigPath, _ = config.DefaultPath()
			}
			logger, err := newLogger(cmd.ErrOrStderr(), cfg.Logger.Formatter, logLevel)
			if err != nil {
				return err
			}
			opts.Logger = logger
			opts.MetricsAddr = listenAddr(metricsPort)
			opts.HealthAddr = listenAddr(opts.HealthAddr)
			if !metricsEnabled {
				opts.MetricsAddr = "-"
			}
			opts.CacheBytes = cacheSizeMiB << 20
			opts.NegativeCacheBytes = negSizeMiB << 20
			if cacheType == "redis" {
				redis.SetDriverLogger(logger)
			}
			tp, err := telemetry.New(cmd.Context(), telemetry.Options{OTLPEndpoint: otlpEndpoint, ServiceVersion: version})
			if err != nil {
				return fmt.Errorf("tracing: %w", err)
			}
			if tp != nil {
				otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("tracing", "error", err) }))
				logger.Info("exporting spans with OTLP", "protocol", tp.Protocol, "endpoint", tp.Endpoint)
				opts.TracerProvider = tp // Run flushes it when it stops
			}
			if !crdManager {
				if on, err := rotationRequested(); err != nil {
					return err
				} else if on {
					return fmt.Errorf("%s needs --enable-crd-manager, which runs the rotation: %w", certRotationEnv, errdef.ErrInvalidConfig)
				}
				srv, err := server.New(opts)
				if err != nil {
					return err
				}
				return srv.Run(cmd.Context())
			}
			return runCRDManager(cmd.Context(), crdSetup{
				server: opts, base: cfg, logger: logger, kubeconfig: kubeconfig, leaderElect: leaderElect,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Addr, "http", ":6001", "address of the provider endpoints")
	f.StringVarP(&opts.ConfigPath, "config", "c", "", "config.json path (default $RATIFY_CONFIG/config.json or ~/.ratify/config.json)")
	f.StringVar(&opts.CertDir, "cert-dir", "", "directory with tls.crt and tls.key; without it the provider serves plain HTTP")
	f.StringVar(&opts.ClientCAFile, "ca-cert-file", "", "CA certificate(s) of the clients; requires --cert-dir and turns on mutual TLS")
	f.StringVar(&opts.HealthAddr, "health-port", ":9099", "address (or port) of /healthz and /readyz")
	f.StringVar(&metricsPort, "metrics-port", "8888", "address (or port) of Prometheus /metrics")
	f.BoolVar(&metricsEnabled, "metrics-enabled", true, "serve Prometheus metrics")
	f.StringVar(&metricsType, "metrics-type", "prometheus", "metrics exporter (prometheus)")
	f.BoolVar(&cacheEnabled, "cache-enabled", true, "reuse verification results for --cache-ttl")
	f.StringVar(&cacheType, "cache-type", "ristretto", "result cache: in memory (ristretto, memory), or in memory and shared by replicas through Redis (redis)")
	f.StringVar(&cacheName, "cache-name", "", "accepted for Ratify v1 compatibility")
	f.DurationVar(&opts.CacheTTL, "cache-ttl", 10*time.Second, "how long a passing verification result is reused")
	f.Int64Var(&cacheSizeMiB, "cache-size", 256, "memory for passing verification results, in MiB")
	f.DurationVar(&opts.NegativeCacheTTL, "cache-negative-ttl", 2*time.Second, "how long a failing verification result is reused (at most --cache-ttl unless given)")
	f.Int64Var(&negSizeMiB, "cache-negative-size", 32, "memory for failing verification results, in MiB, apart from passing ones")
	f.DurationVar(&opts.CacheStaleTTL, "cache-stale-ttl", 0, "serve a passing result up to this long after it expired when verifying again fails for a transient reason (registry or key vault down); 0: never, at most 10m")
	f.StringVar(&opts.Redis.Addr, "cache-address", "", "Redis host:port, with --cache-type redis")
	f.StringVar(&opts.Redis.PasswordFile, "cache-password-file", "", "file holding the Redis password, with --cache-type redis")
	f.StringVar(&opts.Redis.HMACKeyFile, "cache-hmac-key-file", "", "file holding the secret (32 bytes or more) that authenticates results in Redis; required with --cache-type redis")
	f.DurationVar(&opts.Redis.Timeout, "cache-redis-timeout", redis.DefaultTimeout, "bound on each call to Redis (at most 1s); Redis slower than this is skipped")
	f.BoolVar(&opts.Redis.TLS, "cache-redis-tls", false, "connect to Redis with TLS (system roots unless --cache-redis-ca-file)")
	f.StringVar(&opts.Redis.CAFile, "cache-redis-ca-file", "", "PEM file of the CAs trusted to have issued Redis's certificate, instead of the system roots; implies --cache-redis-tls")
	f.DurationVar(&opts.TagTTL, "tag-cache-ttl", 5*time.Second, "how long a tag's digest is reused")
	f.DurationVar(&opts.TagStaleTTL, "tag-cache-stale-ttl", time.Minute, "how long a tag's last digest is used when the registry cannot be asked (unavailable, throttling); negative: never")
	f.DurationVar(&opts.ReferrersStaleTTL, "referrers-cache-stale-ttl", time.Minute, "while a registry throttles, how long an image's last referrers listing is used instead of listing again (verification still runs); negative: never")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&crdManager, "enable-crd-manager", false, "configure verifiers, stores and the policy from ratify's Kubernetes resources (config.ratify.deislabs.io)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster, with --enable-crd-manager (default $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	f.BoolVar(&leaderElect, "leader-elect", true, "with --enable-crd-manager, only the replica holding the leader Lease writes the resources' status")
	f.StringVar(&otlpEndpoint, "tracing-otlp-endpoint", "", "export spans with OTLP to this collector URL (http://HOST:4318 for http/protobuf, http://HOST:4317 with OTEL_EXPORTER_OTLP_PROTOCOL=grpc); default: OTEL_EXPORTER_OTLP_ENDPOINT, else no tracing")
	return cmd
}

// cacheFlags checks the result cache flags and completes opts from them.
func cacheFlags(cmd *cobra.Command, opts *server.Options, cacheType string, enabled bool) error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf(format+": %w", append(args, errdef.ErrInvalidConfig)...)
	}
	redisFlags := []string{"cache-address", "cache-password-file", "cache-hmac-key-file", "cache-redis-timeout", "cache-redis-tls", "cache-redis-ca-file"}
	switch cacheType {
	case "ristretto", "memory":
		for _, name := range redisFlags {
			if cmd.Flags().Changed(name) {
				return invalid("--%s needs --cache-type redis", name)
			}
		}
	case "redis":
		switch {
		case !enabled:
			return invalid("--cache-type redis needs --cache-enabled")
		case opts.Redis.Addr == "":
			return invalid("--cache-type redis needs --cache-address HOST:PORT")
		case opts.Redis.HMACKeyFile == "":
			return invalid("--cache-type redis needs --cache-hmac-key-file, so that no one without the key can write verdicts that replicas trust")
		case opts.Redis.Timeout <= 0 || opts.Redis.Timeout > redis.MaxTimeout:
			return invalid("--cache-redis-timeout %s: want more than 0 and at most %s", opts.Redis.Timeout, redis.MaxTimeout)
		}
	case "dapr":
		return invalid("--cache-type dapr: Ratify v1's Dapr state store is not available; share results through Redis with --cache-type redis --cache-address HOST:PORT --cache-hmac-key-file FILE, or keep them in memory (ristretto)")
	default:
		return invalid("--cache-type %q: want ristretto or memory (in memory), or redis", cacheType)
	}
	if opts.CacheStaleTTL < 0 || opts.CacheStaleTTL > cache.MaxStaleTTL {
		return invalid("--cache-stale-ttl %s: want 0 (off) to %s", opts.CacheStaleTTL, cache.MaxStaleTTL)
	}
	if !cmd.Flags().Changed("cache-negative-ttl") {
		opts.NegativeCacheTTL = 0 // the server's default: 2s, or --cache-ttl if shorter
	}
	if !enabled {
		opts.CacheTTL, opts.NegativeCacheTTL = -1, -1
	}
	return nil
}

// listenAddr turns a bare port ("8888") into an address (":8888").
func listenAddr(s string) string {
	if s != "" && s != "-" && !strings.Contains(s, ":") {
		return ":" + s
	}
	return s
}

// newLogger returns a slog logger writing text or JSON (config
// logger.formatter: text, json, logstash) at level.
func newLogger(w io.Writer, formatter, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %v: %w", level, err, errdef.ErrInvalidConfig)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if formatter == "json" || formatter == "logstash" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// certRotationEnv is the feature flag of certificate rotation, as the Helm
// value featureFlags.RATIFY_CERT_ROTATION sets it.
const certRotationEnv = "RATIFY_CERT_ROTATION"

// rotationRequested reports whether RATIFY_CERT_ROTATION is on ("1" or
// "true"; "", "0" and "false" are off).
func rotationRequested() (bool, error) {
	switch v := os.Getenv(certRotationEnv); strings.ToLower(v) {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want true or false: %w", certRotationEnv, v, errdef.ErrInvalidConfig)
	}
}

// crdSetup is what serve hands to the Kubernetes controllers.
type crdSetup struct {
	server      server.Options
	base        *config.Config
	logger      *slog.Logger
	kubeconfig  string
	leaderElect bool
}
