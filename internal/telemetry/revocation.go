package telemetry

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Transport wraps the transport of the HTTP client that fetches OCSP
// responses and CRLs (notation.Options.HTTPClient), so that each fetch
// gets a client span ("revocation.fetch") and a StageRevocation duration,
// from the request to the response body's close. A nil base means
// http.DefaultTransport.
func (s *Stages) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, stages: s}
}

type transport struct {
	base   http.RoundTripper
	stages *Stages
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.stages.start(req.Context(), "revocation.fetch", trace.SpanKindClient,
		attribute.String("http.request.method", req.Method), attribute.String("server.address", req.URL.Host),
		attribute.String("url.full", req.URL.Redacted()))
	start := t.stages.now()
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	f := &fetch{stages: t.stages, span: span, start: start, req: req}
	if err != nil {
		f.end(revocationKind(req, nil), OutcomeError, err)
		return nil, err
	}
	f.kind = revocationKind(req, resp)
	span.SetAttributes(attribute.String("ratify.revocation.kind", f.kind), attribute.Int("http.response.status_code", resp.StatusCode))
	f.outcome = OutcomeSuccess
	if resp.StatusCode != http.StatusOK {
		f.outcome = OutcomeError
		f.err = &statusError{resp.Status}
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, fetch: f}
	return resp, nil
}

// revocationKind tells OCSP from CRL by the media types RFC 6960 appendix
// A and RFC 5280 section 4.2.1.13 (with RFC 2585) give them; notation-go
// sends OCSP requests by GET as often as by POST.
func revocationKind(req *http.Request, resp *http.Response) string {
	if strings.HasPrefix(req.Header.Get("Content-Type"), "application/ocsp-request") {
		return "ocsp"
	}
	if resp != nil {
		switch ct := resp.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "application/ocsp-response"):
			return "ocsp"
		case strings.HasPrefix(ct, "application/pkix-crl"):
			return "crl"
		}
	}
	return "other"
}

// fetch is one revocation fetch in flight.
type fetch struct {
	stages        *Stages
	span          trace.Span
	start         time.Time
	req           *http.Request
	kind, outcome string
	err           error
	once          sync.Once
}

func (f *fetch) end(kind, outcome string, err error) {
	f.once.Do(func() {
		end := f.stages.now()
		addWait(f.req.Context(), f.start, end)
		f.stages.observe(StageRevocation, kind, outcome, end.Sub(f.start))
		endSpan(f.span, outcome, err)
	})
}

// timedBody ends its fetch when the caller closes it.
type timedBody struct {
	io.ReadCloser
	fetch *fetch
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.fetch.outcome, b.fetch.err = OutcomeError, err
	}
	return n, err
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.fetch.end(b.fetch.kind, b.fetch.outcome, b.fetch.err)
	return err
}

type statusError struct{ status string }

func (e *statusError) Error() string { return "revocation server answered " + e.status }
