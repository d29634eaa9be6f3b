package gatekeeper

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
)

// wantKeys fails the test unless exactly one exchange was recorded and it
// asked for keys (in any order), and returns it.
func wantKeys(t *testing.T, exchanges []exchange, keys ...string) exchange {
	t.Helper()
	slices.Sort(keys)
	if len(exchanges) != 1 {
		t.Fatalf("%d provider requests %+v; want one for %q", len(exchanges), exchanges, keys)
	}
	got := slices.Sorted(slices.Values(exchanges[0].Keys))
	if !slices.Equal(got, keys) {
		t.Errorf("provider keys %q, want %q", got, keys)
	}
	return exchanges[0]
}

// wantResults checks an answer of the verify endpoint against the provider
// contract: HTTP 200, no system error, and for each key (and no other) one
// item whose value is a verification result, format 0.2.0, with the
// isSuccess that want gives and at least one verifier report when it
// succeeded.
func wantResults(t *testing.T, ex exchange, want map[string]bool) {
	t.Helper()
	resp := ex.answer(t)
	if ex.Status != http.StatusOK || resp.Response.SystemError != "" || len(resp.Response.Items) != len(want) {
		t.Fatalf("answer %d %s; want 200, no system error, %d items", ex.Status, ex.Body, len(want))
	}
	for _, item := range resp.Response.Items {
		var result struct {
			Version         string            `json:"version"`
			IsSuccess       *bool             `json:"isSuccess"`
			VerifierReports []json.RawMessage `json:"verifierReports"`
		}
		success, known := want[item.Key]
		data, err := json.Marshal(item.Value)
		if err == nil {
			err = json.Unmarshal(data, &result)
		}
		switch {
		case !known || item.Error != "" || err != nil:
			t.Errorf("item %q: value %s, error %q (%v); want a result", item.Key, data, item.Error, err)
		case result.Version != "0.2.0" || result.IsSuccess == nil || *result.IsSuccess != success ||
			(success && len(result.VerifierReports) == 0):
			t.Errorf("item %q: %s; want version 0.2.0, isSuccess %v, verifier reports", item.Key, data, success)
		}
	}
}

// exchange is one provider request and its answer, as the proxy saw them.
type exchange struct {
	Keys   []string
	Status int
	Body   []byte
}

// answer decodes the exchange's answer, failing the test if it is not a
// ProviderResponse.
func (e exchange) answer(t *testing.T) externaldata.ProviderResponse {
	t.Helper()
	var resp externaldata.ProviderResponse
	if err := json.Unmarshal(e.Body, &resp); err != nil || resp.APIVersion != "externaldata.gatekeeper.sh/v1beta1" ||
		resp.Kind != "ProviderResponse" {
		t.Fatalf("provider answered %d %s (%v); want a ProviderResponse", e.Status, e.Body, err)
	}
	return resp
}

// recordingProxy forwards Gatekeeper's provider requests to ratify and
// records the keys of each. It serves m's server certificate and requires
// client certificates from m's CA, as ratify does, and presents m's client
// certificate to ratify.
type recordingProxy struct {
	Addr      string
	mu        sync.Mutex
	exchanges []exchange
}

// newRecordingProxy starts a proxy to ratify at target, stopped when the test
// ends.
func newRecordingProxy(t *testing.T, m *tlsMaterial, target string) *recordingProxy {
	t.Helper()
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(must(os.ReadFile(m.CAFile))(t))
	serverCert := must(tls.LoadX509KeyPair(m.CertDir+"/tls.crt", m.CertDir+"/tls.key"))(t)
	clientCert := must(tls.LoadX509KeyPair(m.ClientCert, m.ClientKey))(t)
	upstream := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: cas, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS13}}}
	t.Cleanup(upstream.CloseIdleConnections)

	p := &recordingProxy{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		var req struct {
			Request struct {
				Keys []string `json:"keys"`
			} `json:"request"`
		}
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, "https://"+target+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		resp, err := upstream.Do(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		p.mu.Lock()
		p.exchanges = append(p.exchanges, exchange{Keys: req.Request.Keys, Status: resp.StatusCode, Body: answer})
		p.mu.Unlock()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: cas,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.Addr = srv.Listener.Addr().String()
	return p
}

// take returns the exchanges recorded since the last call.
func (p *recordingProxy) take() []exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	exchanges := p.exchanges
	p.exchanges = nil
	return exchanges
}
