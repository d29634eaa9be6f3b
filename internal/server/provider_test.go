package server

import (
	"github.com/openratify/ratify/internal/testregistry"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestVerifyProtocol(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.Handler()
	badRef := "registry.example/App:v1"
	tagged := f.reg.Host() + "/app/signed:v1"
	keys := []string{f.signed, f.unsigned, badRef, "[tenant-a]" + tagged}
	status, resp := post(t, h, verifyPath, requestBody(keys...), http.Header{"X-Trace": {"trace-123"}})
	if status != http.StatusOK {
		t.Fatalf("status %d: %+v", status, resp)
	}
	if resp.APIVersion != apiVersion || resp.Kind != kindResponse || !resp.Response.Idempotent || resp.Response.SystemError != "" {
		t.Fatalf("response header = %+v", resp)
	}
	if len(resp.Response.Items) != len(keys) {
		t.Fatalf("%d items for %d keys", len(resp.Response.Items), len(keys))
	}
	for i, it := range resp.Response.Items {
		if it.Key != keys[i] {
			t.Errorf("item %d key = %q, want %q", i, it.Key, keys[i])
		}
	}

	signed := decodeResult(t, resp.Response.Items[0].Value)
	if !signed.IsSuccess || signed.Version != "0.2.0" || signed.TraceID != "trace-123" || signed.Timestamp == "" {
		t.Errorf("signed result = %+v", signed)
	}
	if len(signed.VerifierReports) != 1 {
		t.Fatalf("signed reports = %+v", signed.VerifierReports)
	}
	r := signed.VerifierReports[0]
	if !r.IsSuccess || r.Subject != f.signed || r.VerifierName != "notation" || r.VerifierType != "notation" ||
		r.ArtifactType != "application/vnd.cncf.notary.signature" || r.ReferenceDigest == "" || r.Extensions["Issuer"] == nil {
		t.Errorf("signed report = %+v", r)
	}

	unsigned := decodeResult(t, resp.Response.Items[1].Value)
	if unsigned.IsSuccess || len(unsigned.VerifierReports) != 0 || resp.Response.Items[1].Error != "" {
		t.Errorf("unsigned item = %+v", resp.Response.Items[1])
	}
	if bad := resp.Response.Items[2]; bad.Error == "" || bad.Value != nil || !strings.Contains(bad.Error, "invalid reference") {
		t.Errorf("bad reference item = %+v", bad)
	}
	tenant := decodeResult(t, resp.Response.Items[3].Value)
	if !tenant.IsSuccess || tenant.VerifierReports[0].Subject != f.signed {
		t.Errorf("[namespace] tagged key result = %+v", tenant)
	}
}

func TestMutateProtocol(t *testing.T) {
	f := newFixture(t, setup{})
	tagged := f.reg.Host() + "/app/signed:v1"
	keys := []string{tagged, "[ns]" + tagged, f.signed, f.reg.Host() + "/app/missing:v1"}
	status, resp := post(t, f.srv.Handler(), mutatePath, requestBody(keys...), nil)
	if status != http.StatusOK || !resp.Response.Idempotent || resp.Response.SystemError != "" {
		t.Fatalf("status %d, response %+v", status, resp)
	}
	for _, i := range []int{0, 2} {
		if got := strings.Trim(string(resp.Response.Items[i].Value), `"`); got != f.signed || resp.Response.Items[i].Error != "" {
			t.Errorf("mutate %q = %q (error %q), want %q", keys[i], got, resp.Response.Items[i].Error, f.signed)
		}
	}
	// Gatekeeper's Assign never sends a namespace: the pod's author wrote it.
	if ns := resp.Response.Items[1]; ns.Value != nil || !strings.Contains(ns.Error, "mutation keys carry no namespace") {
		t.Errorf("mutate %q = %+v, want an error", keys[1], ns)
	}
	if missing := resp.Response.Items[3]; missing.Error == "" || !strings.Contains(missing.Error, "not found") {
		t.Errorf("missing tag item = %+v", missing)
	}
}

func TestVerifyDeadlineIsSystemError(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	// The registry holds referrers listings until the test ends.
	f := newFixture(t, setup{
		server:   Options{BackgroundVerification: time.Millisecond}, // no longer than the request
		config:   func(cfg map[string]any) { cfg["executor"] = map[string]any{"verificationRequestTimeout": 300} },
		registry: hangReferrers(release),
	})
	status, resp := post(t, f.srv.Handler(), verifyPath, requestBody(f.signed), nil)
	if status != http.StatusInternalServerError || !strings.Contains(resp.Response.SystemError, "did not finish within 300ms") || len(resp.Response.Items) != 0 {
		t.Fatalf("status %d, response %+v", status, resp)
	}
}

// TestVerificationGoesOnAfterDeadline checks that a verification whose
// request gave up at its deadline goes on in the background, and that the
// retry Gatekeeper sends joins it and gets its verdict, without asking the
// registry again.
func TestVerificationGoesOnAfterDeadline(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, setup{
		config:   func(cfg map[string]any) { cfg["executor"] = map[string]any{"verificationRequestTimeout": 300} },
		registry: hangReferrers(release),
	})
	status, resp := post(t, f.srv.Handler(), verifyPath, requestBody(f.signed), nil)
	if status != http.StatusInternalServerError || resp.Response.SystemError == "" {
		t.Fatalf("first request: status %d, response %+v; want a system error at its deadline", status, resp)
	}
	close(release) // the registry answers now; the verification was still waiting for it
	referrers := f.reg.Count("GET", testregistry.KindReferrers)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, resp = post(t, f.srv.Handler(), verifyPath, requestBody(f.signed), nil)
		if len(resp.Response.Items) == 1 && resp.Response.Items[0].Error == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retries never got the verdict: %+v", resp)
		}
	}
	if !decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
		t.Fatalf("verdict %+v, want the signed image to pass", resp.Response.Items[0])
	}
	if got := f.reg.Count("GET", testregistry.KindReferrers); got != referrers {
		t.Errorf("the retry listed referrers again (%d, then %d): it should have joined the verification in flight", referrers, got)
	}
}

func TestRegistryFailureIsNotCached(t *testing.T) {
	f := newFixture(t, setup{})
	f.reg.Inject(outage())
	_, resp := post(t, f.srv.Handler(), verifyPath, requestBody(f.signed), nil)
	if it := resp.Response.Items[0]; it.Error == "" || !strings.Contains(it.Error, "registry unavailable") {
		t.Fatalf("during the outage: %+v", it)
	}
	f.reg.ClearFaults()
	_, resp = post(t, f.srv.Handler(), verifyPath, requestBody(f.signed), nil)
	if it := resp.Response.Items[0]; it.Error != "" || !decodeResult(t, it.Value).IsSuccess {
		t.Fatalf("after the outage the failure was served again: %+v", it)
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.healthHandler()
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptestGet(h, path)
		if rec.Code != http.StatusOK {
			t.Errorf("%s = %d", path, rec.Code)
		}
	}
}
