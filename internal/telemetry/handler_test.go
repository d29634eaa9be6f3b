package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestHandlerServerSpans(t *testing.T) {
	for name, tc := range map[string]struct {
		method, traceparent string
		status              int
		wantName            string
		wantTrace           string
		wantStatus          codes.Code
	}{
		"continues traceparent": {http.MethodPost, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 200,
			"POST /verify", "4bf92f3577b34da6a3ce929d0e0e4736", codes.Unset},
		"malformed traceparent starts a trace": {http.MethodPost, "00-zz-00f067aa0ba902b7-01", 200, "POST /verify", "", codes.Unset},
		"server error":                         {http.MethodPost, "", 500, "POST /verify", "", codes.Error},
		"client error is not the server's":     {http.MethodPost, "", 400, "POST /verify", "", codes.Unset},
		"made-up method":                       {"BREW", "", 405, "HTTP /verify", "", codes.Unset},
	} {
		t.Run(name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer(TracerName)
			var inner trace.SpanContext
			h := Handler(tracer, "/verify", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inner = trace.SpanContextFromContext(r.Context())
				w.WriteHeader(tc.status)
			}))
			req := httptest.NewRequest(tc.method, "/verify", nil)
			if tc.traceparent != "" {
				req.Header.Set("Traceparent", tc.traceparent)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name() != tc.wantName || s.SpanKind() != trace.SpanKindServer || s.Status().Code != tc.wantStatus {
				t.Errorf("span %q kind %v status %v; want %q, server, %v", s.Name(), s.SpanKind(), s.Status().Code, tc.wantName, tc.wantStatus)
			}
			if inner.SpanID() != s.SpanContext().SpanID() {
				t.Error("the handler's context does not carry the server span")
			}
			if tc.wantTrace != "" && (s.SpanContext().TraceID().String() != tc.wantTrace || !s.Parent().IsRemote()) {
				t.Errorf("trace %s (parent %v), want the caller's %s", s.SpanContext().TraceID(), s.Parent(), tc.wantTrace)
			}
			if tc.wantTrace == "" && s.Parent().IsValid() {
				t.Errorf("span has parent %v, want a new trace", s.Parent())
			}
		})
	}
	if h := http.NotFoundHandler(); Handler(nil, "/verify", h) == nil {
		t.Error("Handler(nil) = nil, want the handler itself")
	}
}
