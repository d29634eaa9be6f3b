package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// fixture is a registry with a signed and an unsigned image, a config.json
// trusting the signer's CA, and a Server built from it.
type fixture struct {
	reg      *testregistry.Registry
	ca       *testpki.Certificate
	dir      string
	config   string
	signed   string // host/repo@digest of the signed image
	unsigned string // host/repo@digest of the unsigned image
	signedAt ocispec.Descriptor
	srv      *Server
	logs     *syncBuffer
}

// syncBuffer collects a server's logs while its goroutines write them.
type syncBuffer = testratify.LogBuffer

// setup tunes a fixture.
type setup struct {
	server   Options
	config   func(cfg map[string]any)
	registry func(http.Handler) http.Handler
}

// newFixture builds the fixture.
func newFixture(t testing.TB, su setup) *fixture {
	t.Helper()
	opts := su.server
	reg := testregistry.New(t, testregistry.Options{Referrers: true, Handler: su.registry})
	f := &fixture{reg: reg, dir: t.TempDir(), logs: &syncBuffer{}}
	var err error
	if f.ca, err = testpki.NewRootCA(testpki.CertOptions{}); err != nil {
		t.Fatal(err)
	}
	f.signedAt = f.reg.PushImage(t, "app/signed", "v1")
	f.sign(t, "app/signed", f.signedAt, f.ca)
	unsigned := f.reg.PushImage(t, "app/unsigned", "v1")
	f.signed = f.reg.Host() + "/app/signed@" + f.signedAt.Digest.String()
	f.unsigned = f.reg.Host() + "/app/unsigned@" + unsigned.Digest.String()
	if err := testpki.WritePEM(filepath.Join(f.dir, "certs", "ca.pem"), f.ca.Cert); err != nil {
		t.Fatal(err)
	}
	f.config = filepath.Join(f.dir, "config.json")
	f.writeConfig(t, su.config)
	opts.ConfigPath = f.config
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if f.srv, err = New(opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// sign attaches a Notary Project signature by a new leaf of ca to subject.
func (f *fixture) sign(t testing.TB, repo string, subject ocispec.Descriptor, ca *testpki.Certificate) {
	t.Helper()
	leaf, err := ca.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.reg.Sign(t, repo, subject, leaf)
}

// baseConfig is config.json as a map, for tests to modify.
func baseConfig() map[string]any {
	return map[string]any{
		"store":  map[string]any{"plugins": []any{map[string]any{"name": "oras", "useHttp": true}}},
		"policy": map[string]any{"plugin": map[string]any{"name": "configPolicy", "artifactVerificationPolicies": map[string]any{testpki.ArtifactTypeNotation: "any"}}},
		"verifier": map[string]any{"plugins": []any{map[string]any{
			"name": "notation", "artifactTypes": testpki.ArtifactTypeNotation, "verificationCerts": []string{"certs"},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name": "all", "registryScopes": []string{"*"}, "signatureVerification": map[string]string{"level": "strict"},
				"trustStores": []string{"ca:certs"}, "trustedIdentities": []string{"*"},
			}}},
		}}},
		"crl":    map[string]any{"cache": map[string]bool{"enabled": false}},
		"logger": map[string]any{"requestHeaders": map[string]any{"traceIDHeaderName": []string{"X-Trace"}}},
	}
}

func (f *fixture) writeConfig(t testing.TB, mod func(map[string]any)) {
	t.Helper()
	cfg := baseConfig()
	if mod != nil {
		mod(cfg)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// requestBody is a ProviderRequest for keys.
func requestBody(keys ...string) []byte {
	var req providerRequest
	req.APIVersion, req.Kind, req.Request.Keys = apiVersion, kindRequest, keys
	b, _ := json.Marshal(req)
	return b
}

// decodedResponse is a ProviderResponse with verify results decoded.
type decodedResponse struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   struct {
		Idempotent bool `json:"idempotent"`
		Items      []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
			Error string          `json:"error"`
		} `json:"items"`
		SystemError string `json:"systemError"`
	} `json:"response"`
}

// post sends body to path of h and decodes the answer.
func post(t *testing.T, h http.Handler, path string, body []byte, header http.Header) (int, decodedResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp decodedResponse
	raw, _ := io.ReadAll(rec.Body)
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("response is not JSON (%d): %q", rec.Code, raw)
	}
	return rec.Code, resp
}

// verifyResult is the verify item value.
type verifyResult struct {
	Version         string `json:"version"`
	IsSuccess       bool   `json:"isSuccess"`
	TraceID         string `json:"traceID"`
	Timestamp       string `json:"timestamp"`
	VerifierReports []struct {
		Subject         string         `json:"subject"`
		IsSuccess       bool           `json:"isSuccess"`
		VerifierName    string         `json:"verifierName"`
		VerifierType    string         `json:"verifierType"`
		ReferenceDigest string         `json:"referenceDigest"`
		ArtifactType    string         `json:"artifactType"`
		Message         string         `json:"message"`
		Extensions      map[string]any `json:"extensions"`
	} `json:"verifierReports"`
}

func decodeResult(t *testing.T, raw json.RawMessage) verifyResult {
	t.Helper()
	var r verifyResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("item value is not a verification result: %q", raw)
	}
	return r
}

// outage makes the registry answer every referrers listing with 503.
func outage() testregistry.Fault {
	return testregistry.Fault{Kind: testregistry.KindReferrers, Status: http.StatusServiceUnavailable}
}

// hangReferrers is registry middleware that holds referrers listings until
// release is closed or the client gives up.
func hangReferrers(release <-chan struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/referrers/") {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func httptestGet(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
