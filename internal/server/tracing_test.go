package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/openratify/ratify/internal/telemetry"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// A W3C traceparent (Trace Context level 1) as a caller such as Gatekeeper
// would send it, and the IDs it carries.
const (
	traceparent  = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerParent = "00f067aa0ba902b7"
)

// traced is a fixture whose server records its spans in memory.
func traced(t *testing.T, su setup) (*fixture, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	su.server.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	return newFixture(t, su), rec
}

// spanTree indexes recorded spans.
type spanTree struct {
	t     *testing.T
	spans []sdktrace.ReadOnlySpan
}

func tree(t *testing.T, rec *tracetest.SpanRecorder) spanTree {
	return spanTree{t: t, spans: rec.Ended()}
}

// named returns the spans called name.
func (st spanTree) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range st.spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only span called name.
func (st spanTree) one(name string) sdktrace.ReadOnlySpan {
	st.t.Helper()
	spans := st.named(name)
	if len(spans) != 1 {
		st.t.Fatalf("%d spans named %q, want 1; spans: %s", len(spans), name, st)
	}
	return spans[0]
}

func (st spanTree) String() string {
	var names []string
	for _, s := range st.spans {
		names = append(names, s.Name())
	}
	return strings.Join(names, ", ")
}

// childOf fails the test unless child's parent is parent.
func childOf(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %q is not a child of %q", child.Name(), parent.Name())
	}
}

// hasAttrs fails the test unless s has each attribute with its value.
func hasAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want ...attribute.KeyValue) {
	t.Helper()
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		got[kv.Key] = kv.Value
	}
	for _, kv := range want {
		if v, ok := got[kv.Key]; !ok || v != kv.Value {
			t.Errorf("span %q: %s = %q, want %q", s.Name(), kv.Key, v.Emit(), kv.Value.Emit())
		}
	}
}

func TestTracingSpanTree(t *testing.T) {
	f, rec := traced(t, setup{})
	responder, err := testpki.NewOCSPResponder(f.ca)
	if err != nil {
		t.Fatal(err)
	}
	defer responder.Close()
	leaf, err := f.ca.NewCodeSigning(testpki.CertOptions{OCSPServer: responder.URL})
	if err != nil {
		t.Fatal(err)
	}
	image := f.reg.PushImage(t, "app/ocsp", "v1")
	sig := f.reg.Sign(t, "app/ocsp", image, leaf)
	subject := f.reg.Host() + "/app/ocsp@" + image.Digest.String()

	code, resp := post(t, f.srv.Handler(), verifyPath, requestBody(subject),
		http.Header{"Traceparent": {traceparent}, "X-Trace": {"req-1"}})
	if code != http.StatusOK || !decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
		t.Fatalf("verify = %d %+v, want a pass", code, resp)
	}
	st := tree(t, rec)
	for _, s := range st.spans {
		if s.SpanContext().TraceID().String() != callerTrace {
			t.Errorf("span %q is in trace %s, not the caller's", s.Name(), s.SpanContext().TraceID())
		}
	}
	server := st.one("POST " + verifyPath)
	if server.SpanKind() != trace.SpanKindServer || server.Parent().SpanID().String() != callerParent || !server.Parent().IsRemote() {
		t.Errorf("server span: kind %v, parent %v; want a server span under the caller's", server.SpanKind(), server.Parent())
	}
	hasAttrs(t, server, attribute.String("ratify.trace_id", "req-1"), attribute.Int("http.response.status_code", 200))
	key := st.one("ratify.key")
	childOf(t, key, server)
	hasAttrs(t, key, attribute.String("ratify.key", subject), attribute.String("ratify.result_source", "verified"),
		attribute.String("ratify.outcome", "success"))

	verify := st.one("ratify.verify")
	childOf(t, verify, key)
	hasAttrs(t, verify, attribute.String("ratify.subject", subject), attribute.String("ratify.trace_id", "req-1"),
		attribute.String("ratify.outcome", "success"))
	referrers := st.one("registry.referrers")
	childOf(t, referrers, verify)
	hasAttrs(t, referrers, attribute.String("ratify.registry", f.reg.Host()), attribute.String("ratify.repository", "app/ocsp"),
		attribute.String("ratify.digest", image.Digest.String()), attribute.String("ratify.outcome", "success"))

	verifier := st.one("ratify.verifier")
	childOf(t, verifier, verify)
	hasAttrs(t, verifier, attribute.String("ratify.verifier.name", "notation"), attribute.String("ratify.verifier.type", "notation"),
		attribute.String("ratify.artifact.digest", sig.Digest.String()), attribute.String("ratify.artifact.type", testpki.ArtifactTypeNotation),
		attribute.String("ratify.outcome", "success"))
	// The signature manifest is read for the subject's descriptor, under
	// the subject's span; the envelope by the verifier, under its span.
	fetches := st.named("registry.fetch")
	if len(fetches) != 2 {
		t.Fatalf("%d registry.fetch spans, want 2 (signature manifest, envelope)", len(fetches))
	}
	for _, fs := range fetches {
		hasAttrs(t, fs, attribute.String("ratify.registry", f.reg.Host()), attribute.String("ratify.repository", "app/ocsp"))
		if v, _ := attrValue(fs, "ratify.digest"); v == sig.Digest.String() {
			childOf(t, fs, verify)
			hasAttrs(t, fs, attribute.String("ratify.media_type", ocispec.MediaTypeImageManifest))
		} else {
			childOf(t, fs, verifier)
		}
	}
	ocsp := st.one("revocation.fetch")
	childOf(t, ocsp, verifier)
	hasAttrs(t, ocsp, attribute.String("ratify.revocation.kind", "ocsp"), attribute.Int("http.response.status_code", 200),
		attribute.String("ratify.outcome", "success"))
	if ocsp.SpanKind() != trace.SpanKindClient {
		t.Errorf("revocation.fetch kind %v, want client", ocsp.SpanKind())
	}
	policy := st.one("ratify.policy")
	childOf(t, policy, verify)
	hasAttrs(t, policy, attribute.String("ratify.outcome", "success"), attribute.Int("ratify.reports", 1))
	if n := len(st.spans); n != 9 {
		t.Errorf("%d spans, want 9: %s", n, st)
	}
}

func attrValue(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}

func TestTracingFailureAndErrorStatus(t *testing.T) {
	f, rec := traced(t, setup{})
	post(t, f.srv.Handler(), verifyPath, requestBody(f.unsigned), nil)
	st := tree(t, rec)
	server := st.one("POST " + verifyPath)
	if server.Parent().IsValid() {
		t.Errorf("server span has parent %v without a traceparent", server.Parent())
	}
	for _, name := range []string{"ratify.key", "ratify.verify", "ratify.policy"} {
		s := st.one(name)
		if s.Status().Code != codes.Error {
			t.Errorf("%s status = %v, want an error for a failed verification", name, s.Status())
		}
		hasAttrs(t, s, attribute.String("ratify.outcome", "failure"))
	}
	if len(st.named("ratify.verifier")) != 0 {
		t.Errorf("an unsigned image has verifier spans: %s", st)
	}

	rec.Reset()
	f.reg.Inject(outage())
	post(t, f.srv.Handler(), verifyPath, requestBody(f.signed), nil)
	st = tree(t, rec)
	referrers := st.one("registry.referrers")
	hasAttrs(t, referrers, attribute.String("ratify.outcome", "error"), attribute.Int("http.response.status_code", http.StatusServiceUnavailable))
	for _, s := range []sdktrace.ReadOnlySpan{referrers, st.one("ratify.verify"), st.one("ratify.key")} {
		if s.Status().Code != codes.Error {
			t.Errorf("%s status = %v, want an error", s.Name(), s.Status())
		}
	}
	hasAttrs(t, st.one("ratify.verify"), attribute.String("ratify.outcome", "error"))
	if len(st.named("ratify.policy")) != 0 {
		t.Error("a policy decided without the referrers")
	}
}

func TestTracingCacheHitsMakeNoRegistrySpans(t *testing.T) {
	t.Run("result cache", func(t *testing.T) {
		f, rec := traced(t, setup{})
		h := f.srv.Handler()
		post(t, h, verifyPath, requestBody(f.signed), nil)
		rec.Reset()
		f.reg.Reset()
		post(t, h, verifyPath, requestBody(f.signed), nil)
		st := tree(t, rec)
		hasAttrs(t, st.one("ratify.key"), attribute.String("ratify.result_source", "memory"))
		for _, name := range []string{"ratify.verify", "registry.referrers", "registry.fetch", "ratify.verifier"} {
			if n := len(st.named(name)); n != 0 {
				t.Errorf("%d %s spans for a cached result", n, name)
			}
		}
		if f.reg.Total() != 0 {
			t.Errorf("registry saw %d requests for a cached result", f.reg.Total())
		}
	})
	t.Run("content cache", func(t *testing.T) {
		f, rec := traced(t, setup{server: Options{CacheTTL: -1}}) // every request verifies
		h := f.srv.Handler()
		post(t, h, verifyPath, requestBody(f.signed), nil)
		rec.Reset()
		f.reg.Reset()
		post(t, h, verifyPath, requestBody(f.signed), nil)
		st := tree(t, rec)
		st.one("ratify.verify")
		st.one("ratify.verifier")
		st.one("registry.referrers") // listings are never cached
		if n := len(st.named("registry.fetch")); n != 0 {
			t.Errorf("%d registry.fetch spans for content the cache holds", n)
		}
		if got := f.reg.Count(http.MethodGet, testregistry.KindReferrers); got != 1 || f.reg.Total() != 1 {
			t.Errorf("registry saw %v, want the referrers listing only", f.reg.Counts())
		}
	})
}

func TestTracingMutateAndTags(t *testing.T) {
	f, rec := traced(t, setup{})
	post(t, f.srv.Handler(), mutatePath, requestBody(f.reg.Host()+"/app/signed:v1"), http.Header{"Traceparent": {traceparent}})
	st := tree(t, rec)
	server := st.one("POST " + mutatePath)
	resolve := st.one("registry.resolve")
	childOf(t, resolve, st.one("ratify.key"))
	childOf(t, st.one("ratify.key"), server)
	hasAttrs(t, resolve, attribute.String("ratify.reference", "v1"), attribute.String("ratify.digest", f.signedAt.Digest.String()))
}

func TestStageMetrics(t *testing.T) {
	f := newFixture(t, setup{}) // no tracer: the stage metrics do not need one
	responder, err := testpki.NewOCSPResponder(f.ca)
	if err != nil {
		t.Fatal(err)
	}
	defer responder.Close()
	leaf, err := f.ca.NewCodeSigning(testpki.CertOptions{OCSPServer: responder.URL})
	if err != nil {
		t.Fatal(err)
	}
	image := f.reg.PushImage(t, "app/ocsp", "v1")
	f.reg.Sign(t, "app/ocsp", image, leaf)
	post(t, f.srv.Handler(), verifyPath, requestBody(f.reg.Host()+"/app/ocsp@"+image.Digest.String(), f.unsigned), nil)
	if responder.Requests() != 1 {
		t.Fatalf("OCSP responder saw %d requests, want 1", responder.Requests())
	}
	body := httptestGet(f.srv.metrics.handler(), "/metrics").Body.String()
	for _, want := range []string{
		`ratify_stage_duration_seconds_count{operation="ocsp",outcome="success",stage="revocation"} 1`,
		`ratify_stage_duration_seconds_count{operation="referrers",outcome="success",stage="registry"} 2`,
		`ratify_stage_duration_seconds_count{operation="fetch",outcome="success",stage="registry"} 2`,
		`ratify_stage_duration_seconds_count{operation="resolve",outcome="success",stage="registry"} 1`, // the unsigned image's descriptor
		`ratify_stage_duration_seconds_count{operation="notation",outcome="success",stage="verifier"} 1`,
		`ratify_stage_duration_seconds_count{operation="decide",outcome="success",stage="policy"} 1`,
		`ratify_stage_duration_seconds_count{operation="decide",outcome="failure",stage="policy"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, image := range []string{"app/ocsp", "app/unsigned", "sha256:", "127.0.0.1"} {
		if strings.Contains(grepLines(body, "ratify_stage_duration_seconds"), image) {
			t.Errorf("stage metrics name %q", image)
		}
	}
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRunFlushesSpansToOTLP runs the server with spans exported over
// OTLP/HTTP to a receiver on loopback; the batch processor would wait
// seconds before sending, so the spans that arrive were flushed by Run's
// shutdown.
func TestRunFlushesSpansToOTLP(t *testing.T) {
	for _, v := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_COMPRESSION"} {
		t.Setenv(v, "") // restored when the test ends; the SDK takes "" as set
		os.Unsetenv(v)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", telemetry.ProtocolHTTP)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "600000") // ten minutes: only a flush sends
	receiver, got := newOTLPReceiver(t)
	tp, err := telemetry.New(context.Background(), telemetry.Options{OTLPEndpoint: receiver})
	if err != nil || tp == nil {
		t.Fatalf("telemetry.New = %v, %v", tp, err)
	}
	f := newFixture(t, setup{server: Options{TracerProvider: tp, Addr: "127.0.0.1:0", HealthAddr: "-", MetricsAddr: "-"}})
	addr := make(chan string, 1)
	f.srv.opts.OnListen = func(_, a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx) }()
	req, _ := http.NewRequest(http.MethodPost, "http://"+<-addr+verifyPath, bytes.NewReader(requestBody(f.signed)))
	req.Header.Set("Traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := len(got.names()); n != 0 {
		t.Fatalf("receiver got %d spans before shutdown; the test needs them batched", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	names := got.names()
	for _, want := range []string{"POST " + verifyPath, "ratify.key", "ratify.verify", "registry.referrers", "ratify.verifier", "ratify.policy"} {
		if !slices.Contains(names, want) {
			t.Errorf("receiver lacks span %q; got %q", want, names)
		}
	}
	if traces := got.traceIDs(); len(traces) != 1 || traces[0] != callerTrace {
		t.Errorf("exported traces %q, want only the caller's %s", traces, callerTrace)
	}
}
