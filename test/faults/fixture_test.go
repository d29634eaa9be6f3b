package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.uber.org/goleak"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// generous bounds a wait that only a hang would reach: far above what any
// step needs on a busy machine. Tests assert outcomes, never durations.
const generous = 2 * time.Minute

// settle bounds a wait for what, when ratify is right, happens at once
// (a server noticing that its client hung up); only a bug reaches it, so
// it is shorter than generous, to keep a known bug from slowing the suite.
const settle = 15 * time.Second

// sigType is the artifact type of Notary Project signatures.
const sigType = testpki.ArtifactTypeNotation

// noLeaks makes t check, once everything the test started has been shut
// down (it must be called first, so that its cleanup runs last), that no
// goroutine started during the test is left. Goroutines that were running
// before the test are ignored (goleak.IgnoreCurrent). Goroutines may take
// a moment to notice that the servers they talked to are gone, so the
// check is repeated until it passes or `generous` has passed.
func noLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	t.Cleanup(func() {
		deadline := time.Now().Add(generous)
		for {
			err := goleak.Find(opts...)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines left behind: %v", err)
				return
			}
		}
	})
}

// fixture is a registry holding a signed and an unsigned image, the CA
// trusted for the signature, and a config.json directory.
type fixture struct {
	reg       *testregistry.Registry
	ca        *testpki.Certificate
	dir       string
	signed    ocispec.Descriptor // app/signed:v1
	signature *testpki.Signature // the signature attached to signed
	unsigned  ocispec.Descriptor // app/unsigned:v1
}

// newFixture starts a registry (with the referrers API unless opts says
// otherwise) and pushes the images.
func newFixture(t *testing.T, opts testregistry.Options) *fixture {
	t.Helper()
	f := &fixture{reg: testregistry.New(t, opts), dir: t.TempDir()}
	var err error
	if f.ca, err = testpki.NewRootCA(testpki.CertOptions{}); err != nil {
		t.Fatal(err)
	}
	f.signed = f.reg.PushImage(t, "app/signed", "v1")
	f.signature = f.sign(t, "app/signed", f.signed, f.ca, testpki.CertOptions{})
	f.unsigned = f.reg.PushImage(t, "app/unsigned", "v1")
	if err := testpki.WritePEM(filepath.Join(f.dir, "certs", "ca.pem"), f.ca.Cert); err != nil {
		t.Fatal(err)
	}
	return f
}

// sign attaches a Notary Project signature of subject by a new leaf of ca
// (with leafOpts) and returns it.
func (f *fixture) sign(t *testing.T, repo string, subject ocispec.Descriptor, ca *testpki.Certificate, leafOpts testpki.CertOptions) *testpki.Signature {
	t.Helper()
	leaf, err := ca.NewCodeSigning(leafOpts)
	if err != nil {
		t.Fatal(err)
	}
	env, err := leaf.Sign(context.Background(), subject, testpki.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := testpki.NewSignature(subject, testpki.MediaTypeJWS, env)
	if err != nil {
		t.Fatal(err)
	}
	for d, c := range sig.Contents() {
		if d != sig.ManifestDescriptor.Digest {
			f.reg.PushBlob(t, repo, "application/octet-stream", c)
		}
	}
	f.reg.PushManifest(t, repo, "", sig.ManifestDescriptor.MediaType, sig.Manifest)
	return sig
}

// ref returns host/repo@digest.
func (f *fixture) ref(repo string, d ocispec.Descriptor) string {
	return f.reg.Host() + "/" + repo + "@" + d.Digest.String()
}

// baseConfig is a config.json reading the fixture's registry over plain
// HTTP and verifying Notary Project signatures that chain to its CA, with
// generous deadlines.
func baseConfig() map[string]any {
	return map[string]any{
		"store":  map[string]any{"plugins": []any{map[string]any{"name": "oras", "useHttp": true}}},
		"policy": map[string]any{"plugin": map[string]any{"name": "configPolicy", "artifactVerificationPolicies": map[string]any{sigType: "any"}}},
		"verifier": map[string]any{"plugins": []any{map[string]any{
			"name": "notation", "artifactTypes": sigType, "verificationCerts": []string{"certs"},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name": "all", "registryScopes": []string{"*"}, "signatureVerification": map[string]string{"level": "strict"},
				"trustStores": []string{"ca:certs"}, "trustedIdentities": []string{"*"},
			}}},
		}}},
		"executor": map[string]any{"verificationRequestTimeout": 60000, "mutationRequestTimeout": 60000},
		"crl":      map[string]any{"cache": map[string]bool{"enabled": false}},
	}
}

// storePlugin returns the store plugin entry of cfg, to modify.
func storePlugin(cfg map[string]any) map[string]any {
	return cfg["store"].(map[string]any)["plugins"].([]any)[0].(map[string]any)
}

// writeConfig writes cfg as config.json in dir and returns its path.
func writeConfig(t *testing.T, dir string, cfg map[string]any) string {
	t.Helper()
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// build loads config.json at path and builds its executor, as `ratify
// verify` does.
func build(t *testing.T, path string, opts config.BuildOptions) *ratify.Executor {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	e, err := config.Build(cfg, opts)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return e
}

// verify runs e on reference under a generous deadline.
func verify(t *testing.T, e *ratify.Executor, reference string) (ratify.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), generous)
	defer cancel()
	return e.Verify(ctx, reference, ratify.VerifyOptions{})
}

// wantErr fails t unless err wraps want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want one wrapping %q", what, err, want)
	}
}

// syncBuffer collects a server's logs while its goroutines write them.
type syncBuffer = testratify.LogBuffer

// provider is a running `ratify serve` in this process: server.Run on
// loopback, stopped (and waited for) when the test ends or Stop is called.
type provider struct {
	URL  string // http(s)://127.0.0.1:PORT
	Logs *syncBuffer

	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
	client *http.Client
	once   sync.Once
}

// startProvider runs a server built from opts (ConfigPath set by the
// caller) on a free loopback port, without health and metrics listeners,
// logging at debug level into Logs.
func startProvider(t *testing.T, opts server.Options) *provider {
	t.Helper()
	p := &provider{Logs: &syncBuffer{}, done: make(chan error, 1)}
	opts.Addr = "127.0.0.1:0"
	opts.HealthAddr, opts.MetricsAddr = "-", "-"
	opts.Logger = slog.New(slog.NewTextHandler(p.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	listening := make(chan string, 1)
	opts.OnListen = func(name, addr string) {
		if name == "provider" {
			listening <- addr
		}
	}
	var err error
	if p.srv, err = server.New(opts); err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- p.srv.Run(ctx) }()
	scheme := "http://"
	if opts.CertDir != "" {
		scheme = "https://"
	}
	select {
	case addr := <-listening:
		p.URL = scheme + addr
	case err := <-p.done:
		t.Fatalf("server.Run returned before listening: %v", err)
	case <-time.After(generous):
		t.Fatal("the server did not listen")
	}
	p.client = &http.Client{Timeout: generous, Transport: &http.Transport{}}
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop shuts the server down and waits for Run to return.
func (p *provider) Stop(t *testing.T) {
	p.once.Do(func() {
		p.cancel()
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("server.Run: %v", err)
			}
		case <-time.After(generous):
			t.Errorf("the server did not stop")
		}
		p.client.CloseIdleConnections()
	})
}

// item is one answer of a provider response.
type item struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// answer is a decoded ProviderResponse.
type answer struct {
	Status      int
	Items       []item
	SystemError string
}

// post sends a ProviderRequest for keys to path ("verify" or "mutate").
func (p *provider) post(t *testing.T, op string, keys ...string) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": keys}})
	resp, err := p.client.Post(p.URL+"/ratify/gatekeeper/v1/"+op, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Response struct {
			Items       []item `json:"items"`
			SystemError string `json:"systemError"`
		} `json:"response"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s answer %d is not a ProviderResponse: %q", op, resp.StatusCode, raw)
	}
	return answer{Status: resp.StatusCode, Items: out.Response.Items, SystemError: out.Response.SystemError}
}

// result is the verify item value's fields the tests read.
type result struct {
	IsSuccess       bool `json:"isSuccess"`
	VerifierReports []struct {
		Subject   string `json:"subject"`
		IsSuccess bool   `json:"isSuccess"`
		Message   string `json:"message"`
	} `json:"verifierReports"`
}

func (it item) result(t *testing.T) result {
	t.Helper()
	var r result
	if err := json.Unmarshal(it.Value, &r); err != nil {
		t.Fatalf("item %q value is not a result: %s (error %q)", it.Key, it.Value, it.Error)
	}
	return r
}

// wantDenied fails t unless every item of a (a verify answer) is an error
// naming want (an errdef sentinel, as its text), or the whole request
// failed with a system error: never a pass, never a verdict of "unsigned"
// when want says verification could not be done.
// wantAllowListRefusals fails t unless every item of a is refused as
// unauthorized by the registry allow-list.
func wantAllowListRefusals(t *testing.T, a answer) {
	t.Helper()
	wantItemErrors(t, a, errdef.ErrUnauthorized)
	for _, it := range a.Items {
		if !strings.Contains(it.Error, "allow-list") {
			t.Errorf("%q: %q is not the allow-list's refusal", it.Key, it.Error)
		}
	}
}

func wantItemErrors(t *testing.T, a answer, want error) {
	t.Helper()
	if a.SystemError != "" {
		t.Fatalf("system error %q (status %d), want item errors naming %q", a.SystemError, a.Status, want)
	}
	for _, it := range a.Items {
		if it.Error == "" || !strings.Contains(it.Error, want.Error()) {
			t.Fatalf("item %q: value %s error %q, want an error naming %q", it.Key, it.Value, it.Error, want)
		}
	}
}

// unusedAddr returns a loopback address nothing listens on.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// within polls cond until it holds or d has passed, and reports whether it
// held.
func within(d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			return false
		}
	}
	return true
}

// eventually polls cond until it holds, failing t if it does not within
// generous: for states that other goroutines reach on their own (a
// server noticing that a client hung up).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(generous)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("not within %s: %s", generous, what)
		}
	}
}

// envelopeOf returns the descriptor of sig's envelope blob.
func envelopeOf(sig *testpki.Signature) ocispec.Descriptor { return sig.EnvelopeDescriptor }

// digestOf is digest.FromBytes, for brevity.
func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }
