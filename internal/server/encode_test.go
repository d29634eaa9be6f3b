package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/openratify/ratify"
)

// sampleResult is a verification result as the notation verifier reports
// one, with characters encoding/json escapes in its messages.
func sampleResult(success bool) ratify.Result {
	return ratify.Result{
		Version: ratify.ResultVersion, IsSuccess: success,
		Timestamp: time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC),
		VerifierReports: []ratify.Report{{
			Subject: "registry.example/app@sha256:aa", IsSuccess: success, Name: "notation", VerifierName: "notation",
			Type: "notation", VerifierType: "notation", ReferenceDigest: "sha256:bb",
			ArtifactType: "application/vnd.cncf.notary.signature", Message: `signature <verified> & "trusted"` + "\u2028é",
			Extensions: map[string]any{"Issuer": "CN=Ratify Test Root CA", "SN": "CN=leaf", "count": 2, "nested": map[string]any{"b": true, "a": nil}},
		}},
	}
}

// reflected is how encoding/json writes resp.
func reflected(t testing.TB, resp providerResponse) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(resp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestResponseEncoding(t *testing.T) {
	passing, failing := sampleResult(true), sampleResult(false)
	traced := func(res ratify.Result, traceID string) (tracedResult, ratify.Result) {
		t.Helper()
		enc, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := newTracedResult(enc, traceID)
		if !ok {
			t.Fatalf("newTracedResult rejected %s", enc)
		}
		res.TraceID = traceID
		return v, res
	}
	p, pWant := traced(passing, "7c9e6679-7425-40de-944b-e07fc1f90ae7")
	f, fWant := traced(failing, `trace <"id"> &`)
	e, eWant := traced(passing, "")
	note := staleNote{ExpiredAt: passing.Timestamp, Reason: "registry unavailable"}
	for name, tc := range map[string]struct{ fast, want []item }{
		"verify": {
			fast: []item{{Key: "r.io/a:v1", Value: p}, {Key: "[team-a]r.io/b@sha256:aa", Value: f}, {Key: "r.io/c", Value: e}},
			want: []item{{Key: "r.io/a:v1", Value: pWant}, {Key: "[team-a]r.io/b@sha256:aa", Value: fWant}, {Key: "r.io/c", Value: eWant}},
		},
		"errors and others": {
			fast: []item{
				{Key: "r.io/<x>", Error: `verify r.io/<x>: "invalid" & more` + "\x01\xff"},
				{Key: "r.io/m:v1", Value: "r.io/m@sha256:cc"},
				{Key: "r.io/s:v1", Value: staleResult{Result: passing, Stale: note}},
				{Key: "r.io/n:v1", Value: staleNested{NestedResult: passing.Nested(), Stale: note}},
				{Key: "r.io/n:v2", Value: passing.Nested()},
			},
		},
		"no items": {fast: []item{}},
	} {
		if tc.want == nil {
			tc.want = tc.fast
		}
		for _, sysErr := range []string{"", "verify of 3 keys did not finish within 2.9s <&>"} {
			got, err := appendResponse(nil, newResponse(tc.fast, sysErr))
			if err != nil {
				t.Fatal(err)
			}
			if want := reflected(t, newResponse(tc.want, sysErr)); !bytes.Equal(got, want) {
				t.Errorf("%s: encoded by hand:\n%s\nby encoding/json:\n%s", name, got, want)
			}
			if through := reflected(t, newResponse(tc.fast, sysErr)); !bytes.Equal(got, through) {
				t.Errorf("%s: tracedResult through encoding/json:\n%s\nby hand:\n%s", name, through, got)
			}
		}
	}
	nilItems := providerResponse{APIVersion: apiVersion, Kind: kindResponse}
	if got, _ := appendResponse(nil, nilItems); !bytes.Equal(got, reflected(t, nilItems)) {
		t.Errorf("nil items: %s", got)
	}
}

func TestTracedResultNeedsAResult(t *testing.T) {
	for _, enc := range []string{
		``, `null`, `{"isSuccess":true,"version":"0.2.0"}`, `{"version":"0.\"2","isSuccess":true,"timestamp":""}`,
		`{"version":"0.2.0","isSuccess":true}`, `{"version":"0.2.0","isSuccess":1,"timestamp":""}`, `{"version":"0.2.0`,
	} {
		if v, ok := newTracedResult([]byte(enc), "id"); ok {
			t.Errorf("newTracedResult(%s) = %+v, want false", enc, v)
		}
	}
}

// FuzzResponseEncoding checks the hand-made encoding of answers against
// encoding/json's.
func FuzzResponseEncoding(f *testing.F) {
	f.Add("r.io/a:v1", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "0.2.0", "signature verified", "", true)
	f.Add("[ns]r.io/<a>", `"id"`, "1.1.0", "bad\u2028", "err & <x>", false)
	f.Add("\xff", "\x00", `0."2`, "\\", "\xfe", true)
	f.Fuzz(func(t *testing.T, key, traceID, version, message, errMsg string, success bool) {
		res := sampleResult(success)
		res.Version = version
		res.VerifierReports[0].Message = message
		enc, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := newTracedResult(enc, traceID)
		quoted, _ := json.Marshal(version)
		if !ok {
			if !bytes.Contains(quoted, []byte(`\`)) {
				t.Fatalf("newTracedResult rejected %s", enc)
			}
			return
		}
		res.TraceID = traceID
		fast := []item{{Key: key, Value: v}, {Key: key, Error: errMsg}}
		want := []item{{Key: key, Value: res}, {Key: key, Error: errMsg}}
		got, err := appendResponse(nil, newResponse(fast, errMsg))
		if err != nil {
			t.Fatal(err)
		}
		if w := reflected(t, newResponse(want, errMsg)); !bytes.Equal(got, w) {
			t.Errorf("encoded by hand:\n%s\nby encoding/json:\n%s", got, w)
		}
	})
}

// TestWarmAnswerAsVerified checks that an answer served from memory (on
// the request's goroutine, its results' JSON made when they were cached)
// is byte for byte the answer of the request that verified, and that each
// item's value is what encoding/json makes of the result it carries.
func TestWarmAnswerAsVerified(t *testing.T) {
	f := newFixture(t, setup{})
	body := requestBody(f.signed, f.reg.Host()+"/app/signed:v1", f.unsigned, "[team-a]"+f.signed)
	answer := func() []byte {
		req := httptest.NewRequest(http.MethodPost, verifyPath, bytes.NewReader(body))
		req.Header.Set("X-Trace", "trace <1>")
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
			t.Fatalf("status %d, Content-Length %q for %d bytes", rec.Code, rec.Header().Get("Content-Length"), rec.Body.Len())
		}
		return rec.Body.Bytes()
	}
	f.reg.Reset()
	verified := answer()
	if f.reg.Total() == 0 {
		t.Fatal("the first request was not verified")
	}
	f.reg.Reset()
	if warm := answer(); !bytes.Equal(warm, verified) || f.reg.Total() != 0 {
		t.Errorf("from memory (%d registry requests):\n%s\nverified:\n%s", f.reg.Total(), warm, verified)
	}
	var resp decodedResponse
	if err := json.Unmarshal(verified, &resp); err != nil || len(resp.Response.Items) != 4 {
		t.Fatalf("%v: %s", err, verified)
	}
	for _, it := range resp.Response.Items {
		var res ratify.Result
		if err := json.Unmarshal(it.Value, &res); err != nil || res.TraceID != "trace <1>" {
			t.Fatalf("%s: %v, trace ID %q", it.Value, err, res.TraceID)
		}
		if again, _ := json.Marshal(res); !bytes.Equal(again, it.Value) {
			t.Errorf("item %s:\n%s\nencoding/json:\n%s", it.Key, it.Value, again)
		}
	}
}
