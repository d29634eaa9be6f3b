package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/errdef"
)

// Paths of the provider endpoints, as Ratify v1 serves them.
const (
	verifyPath = "/ratify/gatekeeper/v1/verify"
	mutatePath = "/ratify/gatekeeper/v1/mutate"
)

// errRequest is a request that is malformed as a whole; it is answered
// with a 4xx status and a system error naming the problem.
type errRequest struct {
	status int
	msg    string
}

func (e *errRequest) Error() string { return e.msg }

// decode reads and checks a ProviderRequest, bounded in bytes and keys.
func (s *Server) decode(w http.ResponseWriter, r *http.Request) ([]string, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &errRequest{http.StatusMethodNotAllowed, "use POST"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &errRequest{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", s.opts.MaxBodyBytes)}
		}
		return nil, &errRequest{http.StatusBadRequest, "reading request body: " + err.Error()}
	}
	var req providerRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &errRequest{http.StatusBadRequest, "request body is not a ProviderRequest: " + err.Error()}
	}
	if req.APIVersion != apiVersion || req.Kind != kindRequest {
		return nil, &errRequest{http.StatusBadRequest, fmt.Sprintf("want apiVersion %q and kind %q, got %q and %q", apiVersion, kindRequest, req.APIVersion, req.Kind)}
	}
	keys := req.Request.Keys
	switch {
	case len(keys) == 0:
		return nil, &errRequest{http.StatusBadRequest, "request has no keys"}
	case len(keys) > s.opts.MaxKeys:
		return nil, &errRequest{http.StatusRequestEntityTooLarge, fmt.Sprintf("request has %d keys, more than %d", len(keys), s.opts.MaxKeys)}
	}
	for i, k := range keys {
		if _, _, err := parseKey(k); err != nil {
			return nil, &errRequest{http.StatusBadRequest, fmt.Sprintf("keys[%d]: %v", i, err)}
		}
	}
	return keys, nil
}

// handle runs one provider request: each key through answer, concurrently
// with a bound, under the request deadline.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, op string, timeout func(*generation) time.Duration,
	answer func(ctx context.Context, g *generation, namespace, image, traceID string) item, observe func(time.Duration)) {
	start := time.Now()
	keys, err := s.decode(w, r)
	if err != nil {
		var bad *errRequest
		errors.As(err, &bad)
		s.log.Warn("bad provider request", "op", op, "status", bad.status, "error", bad.msg, "remote", r.RemoteAddr)
		s.write(w, bad.status, newResponse(nil, bad.msg))
		return
	}
	g := s.engine.current.Load()
	traceID := s.traceID(r, g)
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("ratify.trace_id", traceID), attribute.Int("ratify.keys", len(keys)))
	ctx, cancel := context.WithTimeout(r.Context(), timeout(g))
	defer cancel()

	items := make([]item, len(keys))
	sem := make(chan struct{}, s.opts.KeyConcurrency)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				items[i] = item{Key: key, Error: ctx.Err().Error()}
				return
			}
			namespace, image, _ := parseKey(key) // checked by decode
			kctx, span := s.startSpan(ctx, "ratify.key", attribute.String("ratify.key", key))
			items[i] = answer(kctx, g, namespace, image, traceID)
			items[i].Key = key
			endKeySpan(span, items[i])
		})
	}
	wg.Wait()
	log := s.log.With("op", op, "trace_id", traceID, "keys", len(keys), "generation", g.id)
	// The clock, not only ctx.Err: a key's own deadline, set just after
	// the request's, may have fired first.
	if dl, _ := ctx.Deadline(); errors.Is(ctx.Err(), context.DeadlineExceeded) || !time.Now().Before(dl) {
		msg := fmt.Sprintf("%s of %d keys did not finish within %s", op, len(keys), timeout(g))
		s.metrics.systemErrors.Inc()
		log.Error("provider request timed out", "error", msg)
		s.write(w, http.StatusInternalServerError, newResponse(nil, msg))
		observe(time.Since(start))
		return
	}
	observe(time.Since(start))
	log.Info("provider request", "duration_ms", ms(time.Since(start)), "failed_keys", countFailed(items))
	s.write(w, http.StatusOK, newResponse(items, ""))
}

// startSpan begins a span under ctx's, or returns one that records
// nothing when the server has no tracer.
func (s *Server) startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if s.tracer == nil {
		return ctx, noop.Span{}
	}
	return s.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// endKeySpan records a key's outcome (as executor spans do) and ends its span.
func endKeySpan(span trace.Span, it item) {
	res, verified := resultOf(it)
	switch {
	case it.Error != "":
		span.SetAttributes(attribute.String("ratify.outcome", "error"))
		span.SetStatus(codes.Error, it.Error)
	case verified && !res.IsSuccess:
		span.SetAttributes(attribute.String("ratify.outcome", "failure"))
		span.SetStatus(codes.Error, "the subject failed verification")
	default:
		span.SetAttributes(attribute.String("ratify.outcome", "success"))
	}
	span.End()
}

func countFailed(items []item) int {
	n := 0
	for _, it := range items {
		if res, ok := resultOf(it); it.Error != "" || (ok && !res.IsSuccess) {
			n++
		}
	}
	return n
}

func (s *Server) write(w http.ResponseWriter, status int, resp providerResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(resp); err != nil {
		s.log.Debug("writing provider response", "error", err)
	}
}

// traceID takes the trace ID from the first configured request header that
// carries one, or makes one.
func (s *Server) traceID(r *http.Request, g *generation) string {
	for _, h := range g.cluster.cfg.Logger.RequestHeaders.TraceIDHeaderName {
		if v := r.Header.Get(h); v != "" && len(v) <= 128 {
			return v
		}
	}
	return uuid.NewString()
}

func (s *Server) serveVerify(w http.ResponseWriter, r *http.Request) {
	s.handle(w, r, "verify", func(g *generation) time.Duration { return g.cluster.cfg.Executor.VerificationTimeout() },
		s.verifyKey, func(d time.Duration) { s.metrics.verificationReq.Observe(ms(d)) })
}

func (s *Server) serveMutate(w http.ResponseWriter, r *http.Request) {
	s.handle(w, r, "mutate", func(g *generation) time.Duration { return g.cluster.cfg.Executor.MutationTimeout() },
		s.mutateKey, func(d time.Duration) { s.metrics.mutationReq.Observe(ms(d)) })
}

// pin parses image and resolves it to its digest (through the short tag
// cache), returning the reference pinned to the digest.
func pin(ctx context.Context, sc scope, image string) (registry.Reference, error) {
	ref, err := ratify.ParseReference(image)
	if err != nil {
		return ref, err
	}
	if _, err := ref.Digest(); err == nil {
		return ref, nil
	}
	desc, err := sc.store.Resolve(ctx, ref)
	if err != nil {
		return ref, err
	}
	ref.Reference = desc.Digest.String()
	return ref, nil
}

// verifyKey verifies one image: pinned to its digest, answered from the
// result cache (this replica's memory, then the shared tier) or verified
// once however many callers ask at the same time. Results are keyed by the
// content of the scope's configuration, so that replicas agree on keys and
// none made under another configuration is served.
func (s *Server) verifyKey(ctx context.Context, g *generation, namespace, image, traceID string) item {
	sc, scopeName := g.scopeFor(namespace)
	ref, err := pin(ctx, sc, image)
	if err != nil {
		return s.keyError("verify", image, traceID, err)
	}
	subject := ref.Registry + "/" + ref.Repository + "@" + ref.Reference
	key := cache.ResultKey(sc.cfg.Digest, scopeName, subject, nil)
	budget := max(sc.cfg.Executor.VerificationTimeout(), s.opts.BackgroundVerification)
	ans, err := s.results.Do(ctx, key, budget, func(vctx context.Context) (ratify.Result, error) {
		return sc.exec.VerifyReference(vctx, ref, ratify.VerifyOptions{TraceID: traceID})
	})
	if err != nil {
		return s.keyError("verify", image, traceID, err)
	}
	s.metrics.resultCache(ans.Cached())
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("ratify.result_source", ans.Source.String()))
	res := ans.Result
	res.TraceID = traceID
	if ans.Source == cache.SourceStale {
		s.cacheMetrics.stale.Inc()
		s.log.Warn("serving a stale verdict: verifying again could not complete", "trace_id", traceID, "subject", subject,
			"expired_at", ans.ExpiredAt.UTC(), "error", ans.Cause)
		note := staleNote{ExpiredAt: ans.ExpiredAt.UTC(), Reason: ans.Cause.Error()}
		if nested, ok := ratify.Presented(sc.exec.Policy, res).(ratify.NestedResult); ok {
			return item{Value: staleNested{NestedResult: nested, Stale: note}, result: &res}
		}
		return item{Value: staleResult{Result: res, Stale: note}, result: &res}
	}
	s.log.Debug("verified", "trace_id", traceID, "subject", subject, "success", res.IsSuccess, "source", ans.Source)
	return item{Value: ratify.Presented(sc.exec.Policy, res), result: &res}
}

// staleResult is a verify item value served from an expired verdict (see
// Options.CacheStaleTTL): the result as it was, with a "stale" member that
// says so. Gatekeeper's constraint reads only isSuccess; the member is for
// operators reading audit results and logs.
type staleResult struct {
	ratify.Result
	Stale staleNote `json:"stale"`
}

// staleNested is staleResult in the nested 1.1.0 form (regoPolicy).
type staleNested struct {
	ratify.NestedResult
	Stale staleNote `json:"stale"`
}

// staleNote says when a stale verdict expired and why it was not renewed.
type staleNote struct {
	ExpiredAt time.Time `json:"expiredAt"`
	Reason    string    `json:"reason"`
}

// resultOf returns the verification result an item carries.
func resultOf(it item) (ratify.Result, bool) {
	if it.result == nil {
		return ratify.Result{}, false
	}
	return *it.result, true
}

// mutateKey pins one image to its digest.
//
// Gatekeeper's Assign sends the image as the pod spells it, never with a
// namespace: a "[namespace]" prefix there was written by the pod's author,
// who must not choose another namespace's configuration (its credentials),
// so it is refused. Tags resolve with the cluster-wide configuration.
func (s *Server) mutateKey(ctx context.Context, g *generation, namespace, image, traceID string) item {
	if namespace != "" {
		return s.keyError("mutate", image, traceID, fmt.Errorf("[%s]%s: mutation keys carry no namespace (Gatekeeper's Assign sends the image as the pod spells it): %w",
			namespace, image, errdef.ErrInvalidReference))
	}
	sc, _ := g.scopeFor("")
	ref, err := pin(ctx, sc, image)
	if err != nil {
		return s.keyError("mutate", image, traceID, err)
	}
	return item{Value: ref.Registry + "/" + ref.Repository + "@" + ref.Reference}
}

func (s *Server) keyError(op, image, traceID string, err error) item {
	s.log.Warn("key could not be answered", "op", op, "trace_id", traceID, "image", image, "error", err)
	return item{Error: fmt.Sprintf("%s %s: %v", op, image, err)}
}
