package server

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSpans are the spans an OTLP receiver was sent.
type otlpSpans struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpSpans) names() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var names []string
	for _, s := range o.spans {
		names = append(names, s.GetName())
	}
	return names
}

func (o *otlpSpans) traceIDs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []string
	for _, s := range o.spans {
		if id := hex.EncodeToString(s.GetTraceId()); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// newOTLPReceiver starts an OTLP/HTTP trace receiver (binary protobuf) on
// loopback and returns its base URL.
func newOTLPReceiver(t *testing.T) (string, *otlpSpans) {
	t.Helper()
	got := &otlpSpans{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "not an OTLP/HTTP trace export", http.StatusBadRequest)
			return
		}
		got.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				got.spans = append(got.spans, ss.GetSpans()...)
			}
		}
		got.mu.Unlock()
		resp, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, got
}
