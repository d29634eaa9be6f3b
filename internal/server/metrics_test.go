package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsNameNoImage(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.Handler()
	post(t, h, verifyPath, requestBody(f.signed, f.unsigned, "bad ref"), nil)
	post(t, h, verifyPath, requestBody(f.signed), nil) // cached
	post(t, h, mutatePath, requestBody(f.reg.Host()+"/app/signed:v1"), nil)

	rec := httptestGet(f.srv.metrics.handler(), "/metrics")
	body := rec.Body.String()
	for _, want := range []string{
		"ratify_verification_request_count 2",
		"ratify_mutation_request_count 1",
		`ratify_verifier_duration_count{result="success",verifier="notation"} 1`,
		`ratify_registry_request_count{registry_host="` + f.reg.Host() + `",status_code="200"}`,
		`ratify_blob_cache_count{hit="false"}`,
		`ratify_result_cache_count{hit="true"} 1`,
		"ratify_system_error_count 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, image := range []string{"app/signed", "app/unsigned", "sha256:"} {
		if strings.Contains(body, image) {
			t.Errorf("metrics name an image (%q)", image)
		}
	}
}

func TestTraceIDFromHeaderOrGenerated(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.Handler()
	_, resp := post(t, h, verifyPath, requestBody(f.signed), http.Header{"X-Trace": {"abc-1"}})
	if got := decodeResult(t, resp.Response.Items[0].Value).TraceID; got != "abc-1" {
		t.Errorf("traceID = %q, want the X-Trace header", got)
	}
	_, resp = post(t, h, verifyPath, requestBody(f.signed), nil)
	if got := decodeResult(t, resp.Response.Items[0].Value).TraceID; len(got) != 36 || got == "abc-1" {
		t.Errorf("generated traceID = %q, want a fresh UUID", got)
	}
	if !strings.Contains(f.logs.String(), "trace_id=abc-1") {
		t.Error("logs do not carry the trace ID")
	}
}

func TestGracefulShutdown(t *testing.T) {
	f := newFixture(t, setup{})
	addrs := map[string]string{}
	f.srv.opts.Addr, f.srv.opts.HealthAddr, f.srv.opts.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	listening := make(chan struct{}, 3)
	f.srv.opts.OnListen = func(name, addr string) { addrs[name] = addr; listening <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx) }()
	for range 3 {
		<-listening
	}
	for _, u := range []string{"http://" + addrs["health"] + "/readyz", "http://" + addrs["metrics"] + "/metrics"} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", u, resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after shutdown: %v", err)
	}
	if _, err := http.Get("http://" + addrs["provider"] + verifyPath); err == nil {
		t.Error("provider still answers after shutdown")
	}
}
