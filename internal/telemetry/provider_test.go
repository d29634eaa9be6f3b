package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/openratify/ratify/errdef"
)

// clearEnv unsets the OpenTelemetry variables New and the SDK read, so
// that the environment the tests run in does not decide for them (the SDK
// takes a variable set to "" as set).
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_COMPRESSION",
		"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"} {
		t.Setenv(v, "") // restored when the test ends
		os.Unsetenv(v)
	}
}

func TestNewOffUnlessConfigured(t *testing.T) {
	for name, tc := range map[string]struct {
		env      map[string]string
		endpoint string
	}{
		"nothing set":          {},
		"exporter none":        {env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		"SDK disabled":         {env: map[string]string{"OTEL_SDK_DISABLED": "true"}, endpoint: "http://127.0.0.1:4318"},
		"only a service name":  {env: map[string]string{"OTEL_SERVICE_NAME": "ratify-east"}},
		"only a sampler":       {env: map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}},
		"only the protocol":    {env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		"SDK disabled (caps)":  {env: map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}},
		"exporter none, flag ": {env: map[string]string{"OTEL_TRACES_EXPORTER": "none"}, endpoint: "http://127.0.0.1:4318"},
	} {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			p, err := New(context.Background(), Options{OTLPEndpoint: tc.endpoint})
			if err != nil || p != nil {
				t.Errorf("New = %v, %v; want no provider", p, err)
			}
		})
	}
}

func TestNewRefusesWhatItCannotDo(t *testing.T) {
	for name, tc := range map[string]struct {
		env      map[string]string
		endpoint string
		want     error
	}{
		"zipkin exporter":    {env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, want: errdef.ErrUnsupported},
		"http/json":          {env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, endpoint: "http://127.0.0.1:4318", want: errdef.ErrUnsupported},
		"traces protocol":    {env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "thrift"}, endpoint: "http://127.0.0.1:4318", want: errdef.ErrUnsupported},
		"no scheme":          {endpoint: "collector:4317", want: errdef.ErrInvalidConfig},
		"not a URL":          {endpoint: "http://[::1", want: errdef.ErrInvalidConfig},
		"unsupported scheme": {endpoint: "ftp://127.0.0.1:4318", want: errdef.ErrInvalidConfig},
	} {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if p, err := New(context.Background(), Options{OTLPEndpoint: tc.endpoint}); !errors.Is(err, tc.want) {
				t.Errorf("New = %v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

// received collects the spans an OTLP receiver was sent.
type received struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func (r *received) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.services = append(r.services, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
}

func (r *received) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, s := range r.spans {
		names = append(names, s.GetName())
	}
	return names
}

// NewOTLPHTTPReceiver starts an OTLP/HTTP receiver (binary protobuf, OTLP
// specification "OTLP/HTTP") on loopback.
func newOTLPHTTPReceiver(t *testing.T) (*httptest.Server, *received) {
	t.Helper()
	got := &received{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP/HTTP trace export", http.StatusBadRequest)
			return
		}
		got.add(&req)
		resp, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestExportOTLPHTTP(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_SERVICE_NAME", "ratify-test")
	srv, got := newOTLPHTTPReceiver(t)
	p, err := New(context.Background(), Options{OTLPEndpoint: srv.URL})
	if err != nil || p == nil {
		t.Fatalf("New = %v, %v", p, err)
	}
	if p.Protocol != ProtocolHTTP || p.Endpoint != srv.URL {
		t.Errorf("Provider says %s to %s, want %s to %s", p.Protocol, p.Endpoint, ProtocolHTTP, srv.URL)
	}
	_, span := p.Tracer(TracerName).Start(context.Background(), "ratify.verify")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if names := got.names(); len(names) != 1 || names[0] != "ratify.verify" {
		t.Errorf("receiver got spans %q, want [ratify.verify]", names)
	}
	if len(got.services) == 0 || got.services[0] != "ratify-test" {
		t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's", got.services)
	}
}

func TestExportOTLPHTTPFromEnvironment(t *testing.T) {
	clearEnv(t)
	srv, got := newOTLPHTTPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL) // the exporter adds /v1/traces
	p, err := New(context.Background(), Options{})
	if err != nil || p == nil {
		t.Fatalf("New = %v, %v", p, err)
	}
	_, span := p.Tracer(TracerName).Start(context.Background(), "ratify.policy")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if names := got.names(); len(names) != 1 || names[0] != "ratify.policy" {
		t.Errorf("receiver got spans %q, want [ratify.policy]", names)
	}
	if got.services[0] != "ratify" {
		t.Errorf("service.name = %q, want ratify by default", got.services[0])
	}
}

// traceService is an OTLP/gRPC trace receiver.
type traceService struct {
	collectortrace.UnimplementedTraceServiceServer
	got *received
}

func (s *traceService) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.got.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func TestExportOTLPGRPC(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := &received{}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, &traceService{got: got})
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	p, err := New(context.Background(), Options{OTLPEndpoint: "http://" + ln.Addr().String()})
	if err != nil || p == nil || p.Protocol != ProtocolGRPC {
		t.Fatalf("New = %+v, %v; want a gRPC exporter", p, err)
	}
	_, span := p.Tracer(TracerName).Start(context.Background(), "registry.referrers")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if names := got.names(); len(names) != 1 || names[0] != "registry.referrers" {
		t.Errorf("receiver got spans %q, want [registry.referrers]", names)
	}
}
