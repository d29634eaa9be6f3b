package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openratify/ratify"
)

// durationBuckets are histogram buckets in milliseconds, from a cached
// answer to a request that ran into its deadline.
var durationBuckets = []float64{0.5, 1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 1000, 2000, 3000, 5000}

// stageBuckets are histogram buckets in seconds, from a policy decision to
// a registry or OCSP responder that keeps a verification waiting.
var stageBuckets = []float64{0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// metrics are the Prometheus metrics of the provider, under the names
// Ratify v1 users' dashboards already use. Labels name verifiers, outcomes
// and registry hosts, never an image reference.
type metrics struct {
	registry          *prometheus.Registry
	verificationReq   prometheus.Histogram
	mutationReq       prometheus.Histogram
	verifierDuration  *prometheus.HistogramVec
	systemErrors      prometheus.Counter
	registryRequests  *prometheus.CounterVec
	blobCacheCount    *prometheus.CounterVec
	registryReuse     *prometheus.CounterVec
	resultCacheCount  *prometheus.CounterVec
	configReloadCount *prometheus.CounterVec
	stageDuration     *prometheus.HistogramVec

	// The counters of blobCacheCount and resultCacheCount by hit (false,
	// true), looked up once, when first counted: they are counted for
	// every key.
	blobCacheHits, resultCacheHits [2]func() prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		verificationReq: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ratify_verification_request", Help: "Duration of verify requests, in milliseconds.", Buckets: durationBuckets,
		}),
		mutationReq: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ratify_mutation_request", Help: "Duration of mutate requests, in milliseconds.", Buckets: durationBuckets,
		}),
		verifierDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ratify_verifier_duration", Help: "Duration of one verifier on one artifact, in milliseconds.", Buckets: durationBuckets,
		}, []string{"verifier", "result"}),
		systemErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ratify_system_error_count", Help: "Requests answered with a system error.",
		}),
		registryRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_registry_request_count", Help: "HTTP exchanges with registries, by host and status code (0: no response).",
		}, []string{"registry_host", "status_code"}),
		blobCacheCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_blob_cache_count", Help: "Reads of manifests and blobs, by whether the content cache had them.",
		}, []string{"hit"}),
		registryReuse: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_registry_reuse_count",
			Help: "Earlier registry answers used instead of asking again, by kind: a tag's last digest (the registry unavailable or throttling) or an image's last referrers listing (the registry throttling).",
		}, []string{"kind"}),
		resultCacheCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_result_cache_count", Help: "Verifications of one key, by whether the result cache had them.",
		}, []string{"hit"}),
		configReloadCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratify_config_reload_count", Help: "Reloads of config.json after it changed, by outcome.",
		}, []string{"result"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ratify_stage_duration_seconds",
			Help: "Time in one stage of a verification, in seconds: registry (a registry call no cache answered), " +
				"revocation (an OCSP or CRL fetch), verifier (a verifier call less its registry and revocation time), policy (a decision).",
			Buckets: stageBuckets,
		}, []string{"stage", "operation", "outcome"}),
	}
	m.registry.MustRegister(m.verificationReq, m.mutationReq, m.verifierDuration, m.systemErrors,
		m.registryRequests, m.blobCacheCount, m.registryReuse, m.resultCacheCount, m.configReloadCount, m.stageDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for i, hit := range []string{"false", "true"} {
		m.blobCacheHits[i] = sync.OnceValue(func() prometheus.Counter { return m.blobCacheCount.WithLabelValues(hit) })
		m.resultCacheHits[i] = sync.OnceValue(func() prometheus.Counter { return m.resultCacheCount.WithLabelValues(hit) })
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (m *metrics) verifier(v ratify.Verifier, d time.Duration, report ratify.Report, err error) {
	result := "failure"
	switch {
	case err != nil:
		result = "error"
	case report.IsSuccess:
		result = "success"
	}
	m.verifierDuration.WithLabelValues(v.Name(), result).Observe(ms(d))
}

func (m *metrics) registryResponse(host string, status int) {
	m.registryRequests.WithLabelValues(host, strconv.Itoa(status)).Inc()
}

func (m *metrics) blobCache(hit bool) {
	m.blobCacheHits[b2i(hit)]().Inc()
}

func (m *metrics) reuse(kind string) {
	m.registryReuse.WithLabelValues(kind).Inc()
}

func (m *metrics) resultCache(hit bool) {
	m.resultCacheHits[b2i(hit)]().Inc()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stage observes one stage of a verification (telemetry.Observer).
func (m *metrics) stage(stage, operation, outcome string, d time.Duration) {
	m.stageDuration.WithLabelValues(stage, operation, outcome).Observe(d.Seconds())
}

func (m *metrics) configReload(result string) {
	m.configReloadCount.WithLabelValues(result).Inc()
}
