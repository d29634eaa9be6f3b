package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// observation is one call to an Observer.
type observation struct {
	stage, operation, outcome string
	d                         time.Duration
}

type observations struct {
	mu   sync.Mutex
	list []observation
}

func (o *observations) observe(stage, operation, outcome string, d time.Duration) {
	o.mu.Lock()
	o.list = append(o.list, observation{stage, operation, outcome, d})
	o.mu.Unlock()
}

func (o *observations) of(stage string) []observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []observation
	for _, ob := range o.list {
		if ob.stage == stage {
			out = append(out, ob)
		}
	}
	return out
}

func TestWaitsCountOverlapsOnce(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for name, tc := range map[string]struct {
		intervals [][2]int
		want      time.Duration
	}{
		"none":                  {nil, 0},
		"one":                   {[][2]int{{10, 30}}, 20 * time.Millisecond},
		"apart":                 {[][2]int{{10, 30}, {50, 60}}, 30 * time.Millisecond},
		"overlapping":           {[][2]int{{10, 30}, {20, 40}}, 30 * time.Millisecond},
		"nested":                {[][2]int{{10, 90}, {20, 40}, {50, 60}}, 80 * time.Millisecond},
		"out of order":          {[][2]int{{50, 60}, {10, 30}, {25, 55}}, 50 * time.Millisecond},
		"clipped to the call":   {[][2]int{{-10, 10}, {95, 120}}, 15 * time.Millisecond},
		"outside the call only": {[][2]int{{-20, -10}, {110, 120}}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, w := withWaits(context.Background())
			for _, iv := range tc.intervals {
				addWait(ctx, at(iv[0]), at(iv[1]))
			}
			if got := w.covered(at(0), at(100)); got != tc.want {
				t.Errorf("covered = %s, want %s", got, tc.want)
			}
		})
	}
}

// slowStore is a registry store whose calls take a while on a fakeClock.
// Its one image has one referrer, a manifest of artifact type "sig" with
// one layer.
type slowStore struct {
	clock *fakeClock
	took  time.Duration
	err   error
}

var (
	imageDesc    = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	layerContent = []byte("envelope")
	layerDesc    = ocispec.Descriptor{MediaType: "application/jose+json", Digest: digest.FromBytes(layerContent), Size: int64(len(layerContent))}
	sigContent   = []byte(fmt.Sprintf(`{"subject":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		imageDesc.MediaType, imageDesc.Digest, imageDesc.Size, layerDesc.MediaType, layerDesc.Digest, layerDesc.Size))
	sigDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "sig", Digest: digest.FromBytes(sigContent), Size: int64(len(sigContent))}
)

func (s *slowStore) Resolve(context.Context, registry.Reference) (ocispec.Descriptor, error) {
	s.clock.advance(s.took)
	return imageDesc, s.err
}

func (s *slowStore) Referrers(context.Context, registry.Reference, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	s.clock.advance(s.took)
	if s.err != nil {
		return nil, s.err
	}
	return []ocispec.Descriptor{sigDesc}, nil
}

func (s *slowStore) Fetch(_ context.Context, _ registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	s.clock.advance(s.took)
	if desc.Digest == sigDesc.Digest {
		return sigContent, s.err
	}
	return layerContent, s.err
}

// ocspServer is a RoundTripper that answers like an OCSP responder after
// a while on a fakeClock.
type ocspServer struct {
	clock *fakeClock
	took  time.Duration
}

func (o *ocspServer) RoundTrip(req *http.Request) (*http.Response, error) {
	o.clock.advance(o.took)
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Request: req,
		Header: http.Header{"Content-Type": {"application/ocsp-response"}}, Body: io.NopCloser(strings.NewReader("ocsp"))}, nil
}

// waitingVerifier reads its artifact and the artifact's layer, asks an
// OCSP responder, and works for a while of its own.
type waitingVerifier struct {
	clock  *fakeClock
	client *http.Client
	work   time.Duration
}

func (v *waitingVerifier) Name() string          { return "waiting" }
func (v *waitingVerifier) Type() string          { return "notation" }
func (v *waitingVerifier) CanVerify(string) bool { return true }

func (v *waitingVerifier) Verify(ctx context.Context, _ ratify.Subject, a ocispec.Descriptor, f ratify.Fetcher) (ratify.Report, error) {
	for _, d := range []ocispec.Descriptor{a, layerDesc} {
		if _, err := f.Fetch(ctx, d); err != nil {
			return ratify.Report{}, err
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/ocsp", strings.NewReader("q"))
	req.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := v.client.Do(req)
	if err != nil {
		return ratify.Report{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	v.clock.advance(v.work)
	return ratify.Report{IsSuccess: true}, nil
}

// slowPolicy passes anything with reports, after a while.
type slowPolicy struct {
	clock *fakeClock
	took  time.Duration
}

func (p slowPolicy) Decide(_ context.Context, reports []ratify.Report) bool {
	p.clock.advance(p.took)
	return len(reports) > 0
}

func TestStagesOfAVerification(t *testing.T) {
	for _, traced := range []bool{false, true} {
		t.Run(fmt.Sprintf("traced=%v", traced), func(t *testing.T) {
			clock := &fakeClock{now: time.Unix(1000, 0)}
			obs := &observations{}
			stages := &Stages{Observe: obs.observe, Now: clock.Now}
			rec := tracetest.NewSpanRecorder()
			if traced {
				stages.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer(TracerName)
			}
			v := &waitingVerifier{clock: clock, work: 5 * time.Millisecond,
				client: &http.Client{Transport: stages.Transport(&ocspServer{clock: clock, took: 20 * time.Millisecond})}}
			exec := &ratify.Executor{Store: stages.Store(&slowStore{clock: clock, took: 30 * time.Millisecond}),
				Verifiers: []ratify.Verifier{v}, Policy: slowPolicy{clock: clock, took: time.Millisecond},
				Tracer: stages.ExecutorTracer()}
			res, err := exec.Verify(context.Background(), "registry.test/app@"+imageDesc.Digest.String(), ratify.VerifyOptions{})
			if err != nil || !res.IsSuccess {
				t.Fatalf("Verify = %+v, %v", res, err)
			}
			want := map[string][]observation{
				StageRegistry: {
					{StageRegistry, "referrers", OutcomeSuccess, 30 * time.Millisecond},
					{StageRegistry, "fetch", OutcomeSuccess, 30 * time.Millisecond}, // the signature manifest, for the subject's descriptor
					{StageRegistry, "fetch", OutcomeSuccess, 30 * time.Millisecond}, // the layer, by the verifier
				},
				StageRevocation: {{StageRevocation, "ocsp", OutcomeSuccess, 20 * time.Millisecond}},
				StageVerifier:   {{StageVerifier, "notation", OutcomeSuccess, 5 * time.Millisecond}},
				StagePolicy:     {{StagePolicy, "decide", OutcomeSuccess, time.Millisecond}},
			}
			for stage, w := range want {
				if got := obs.of(stage); fmt.Sprint(got) != fmt.Sprint(w) {
					t.Errorf("%s observations = %+v, want %+v", stage, got, w)
				}
			}
			if n := len(rec.Ended()); traced && n != 7 || !traced && n != 0 {
				t.Errorf("%d spans recorded (traced: %v)", n, traced)
			}
		})
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestStoreSpansAndOutcomes(t *testing.T) {
	unavailable := fmt.Errorf("list referrers: %w: %w", errdef.ErrRegistryUnavailable,
		&errcode.ErrorResponse{Method: http.MethodGet, StatusCode: http.StatusServiceUnavailable})
	for name, tc := range map[string]struct {
		err         error
		outcome     string
		status      codes.Code
		httpStatus  int64
		wantHTTPKey bool
	}{
		"answered":    {nil, OutcomeSuccess, codes.Unset, 0, false},
		"not found":   {fmt.Errorf("x: %w", errdef.ErrNotFound), OutcomeNotFound, codes.Error, 0, false},
		"unavailable": {unavailable, OutcomeError, codes.Error, http.StatusServiceUnavailable, true},
	} {
		t.Run(name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			obs := &observations{}
			clock := &fakeClock{now: time.Unix(1000, 0)}
			store := (&Stages{Tracer: tp.Tracer(TracerName), Observe: obs.observe, Now: clock.Now}).Store(
				&slowStore{clock: clock, took: time.Millisecond, err: tc.err})
			repo := registry.Reference{Registry: "registry.test", Repository: "app"}
			subject := ocispec.Descriptor{Digest: digest.FromString("image")}
			if _, err := store.Referrers(context.Background(), repo, subject); !errors.Is(err, tc.err) {
				t.Fatalf("Referrers: %v, want %v", err, tc.err)
			}
			spans := rec.Ended()
			if len(spans) != 1 || spans[0].Name() != "registry.referrers" {
				t.Fatalf("spans = %v, want one registry.referrers", spans)
			}
			s := spans[0]
			if s.Status().Code != tc.status {
				t.Errorf("status = %v, want %v", s.Status(), tc.status)
			}
			for key, want := range map[string]string{"ratify.outcome": tc.outcome, "ratify.registry": "registry.test",
				"ratify.repository": "app", "ratify.digest": subject.Digest.String()} {
				if v, _ := attr(s, key); v.AsString() != want {
					t.Errorf("%s = %q, want %q", key, v.AsString(), want)
				}
			}
			if v, ok := attr(s, "http.response.status_code"); ok != tc.wantHTTPKey || v.AsInt64() != tc.httpStatus {
				t.Errorf("http.response.status_code = %v (%v), want %d", v.AsInt64(), ok, tc.httpStatus)
			}
			if got := obs.of(StageRegistry); len(got) != 1 || got[0] != (observation{StageRegistry, "referrers", tc.outcome, time.Millisecond}) {
				t.Errorf("observations = %+v", got)
			}
		})
	}
}

func TestRevocationKinds(t *testing.T) {
	for name, tc := range map[string]struct {
		method, reqType, respType string
		status                    int
		kind, outcome             string
	}{
		"OCSP by POST":     {http.MethodPost, "application/ocsp-request", "application/ocsp-response", 200, "ocsp", OutcomeSuccess},
		"OCSP by GET":      {http.MethodGet, "", "application/ocsp-response", 200, "ocsp", OutcomeSuccess},
		"CRL":              {http.MethodGet, "", "application/pkix-crl", 200, "crl", OutcomeSuccess},
		"CRL server error": {http.MethodGet, "", "text/plain", 503, "other", OutcomeError},
	} {
		t.Run(name, func(t *testing.T) {
			obs := &observations{}
			rt := (&Stages{Observe: obs.observe}).Transport(roundTripFunc(func(req *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: tc.status, Status: http.StatusText(tc.status), Request: req,
					Header: http.Header{"Content-Type": {tc.respType}}, Body: io.NopCloser(strings.NewReader("x"))}, nil
			}))
			req, _ := http.NewRequest(tc.method, "http://127.0.0.1:1/r", nil)
			if tc.reqType != "" {
				req.Header.Set("Content-Type", tc.reqType)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if len(obs.of(StageRevocation)) != 0 {
				t.Error("fetch observed before its body was read and closed")
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			resp.Body.Close()
			if got := obs.of(StageRevocation); len(got) != 1 || got[0].operation != tc.kind || got[0].outcome != tc.outcome {
				t.Errorf("observations = %+v, want one %s %s", got, tc.kind, tc.outcome)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
