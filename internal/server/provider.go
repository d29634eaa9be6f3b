package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
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

// answerFunc answers one key of a request; quickFunc answers it from
// memory, or reports false.
type (
	answerFunc func(ctx context.Context, g *generation, namespace, image, traceID string) item
	quickFunc  func(ctx context.Context, g *generation, namespace, image, traceID string) (item, bool)
)

// handle runs one provider request: each key through answer (see
// answerKeys), under the request deadline.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, op string, timeout func(*generation) time.Duration,
	answer answerFunc, quick quickFunc, observe func(time.Duration)) {
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
	if s.tracer != nil {
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("ratify.trace_id", traceID), attribute.Int("ratify.keys", len(keys)))
	}
	deadline := time.Now().Add(timeout(g))
	items, err := s.answerKeys(r.Context(), g, keys, traceID, deadline, answer, quick)
	// Attributes of every line logged here, as slog.Logger.With would add
	// them, made only when a line is.
	attrs := func(more ...slog.Attr) []slog.Attr {
		return append([]slog.Attr{slog.String("op", op), slog.String("trace_id", traceID), slog.Int("keys", len(keys)),
			slog.Uint64("generation", g.id)}, more...)
	}
	// The clock, not only the context's error: a key's own deadline, set
	// just after the request's, may have fired first.
	if errors.Is(err, context.DeadlineExceeded) || !time.Now().Before(deadline) {
		msg := fmt.Sprintf("%s of %d keys did not finish within %s", op, len(keys), timeout(g))
		s.metrics.systemErrors.Inc()
		s.log.LogAttrs(r.Context(), slog.LevelError, "provider request timed out", attrs(slog.String("error", msg))...)
		s.write(w, http.StatusInternalServerError, newResponse(nil, msg))
		observe(time.Since(start))
		return
	}
	observe(time.Since(start))
	if s.log.Enabled(r.Context(), slog.LevelInfo) {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "provider request",
			attrs(slog.Float64("duration_ms", ms(time.Since(start))), slog.Int("failed_keys", countFailed(items)))...)
	}
	s.write(w, http.StatusOK, newResponse(items, ""))
}

// answerKeys answers keys: those that quick (if not nil) answers from
// memory on this goroutine, without the cost of a goroutine each (most of
// a warm key's; when spans are recorded every key gets its own, as
// before); the others through answer, concurrently with a bound, under
// deadline. It returns the items and the error of the deadline's context
// (nil when no key needed it).
func (s *Server) answerKeys(parent context.Context, g *generation, keys []string, traceID string, deadline time.Time,
	answer answerFunc, quick quickFunc) ([]item, error) {
	items := make([]item, len(keys))
	var slow []int
	for i, key := range keys {
		if quick != nil && s.tracer == nil {
			namespace, image, _ := parseKey(key) // checked by decode
			if it, ok := quick(parent, g, namespace, image, traceID); ok {
				it.Key = key
				items[i] = it
				continue
			}
		}
		slow = append(slow, i)
	}
	if len(slow) == 0 {
		return items, nil
	}
	ctx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	sem := make(chan struct{}, s.opts.KeyConcurrency)
	var wg sync.WaitGroup
	for _, i := range slow {
		key := keys[i]
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				items[i] = item{Key: key, Error: ctx.Err().Error()}
				return
			}
			namespace, image, _ := parseKey(key) // checked by decode
			if s.tracer == nil {
				items[i] = answer(ctx, g, namespace, image, traceID)
				items[i].Key = key
				return
			}
			kctx, span := s.tracer.Start(ctx, "ratify.key", trace.WithAttributes(attribute.String("ratify.key", key)))
			items[i] = answer(kctx, g, namespace, image, traceID)
			items[i].Key = key
			endKeySpan(span, items[i])
		})
	}
	wg.Wait()
	return items, ctx.Err()
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

// write sends resp, encoded as encoding/json would (see appendResponse).
func (s *Server) write(w http.ResponseWriter, status int, resp providerResponse) {
	buf, _ := s.buffers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	b, err := appendResponse((*buf)[:0], resp)
	w.Header().Set("Content-Type", "application/json")
	if err == nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	w.WriteHeader(status)
	if err == nil {
		_, err = w.Write(b)
	}
	if err != nil {
		s.log.Debug("writing provider response", "error", err)
	}
	if cap(b) <= maxPooledBuffer {
		*buf = b
		s.buffers.Put(buf)
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
		s.verifyKey, s.cachedKey, func(d time.Duration) { s.metrics.verificationReq.Observe(ms(d)) })
}

func (s *Server) serveMutate(w http.ResponseWriter, r *http.Request) {
	s.handle(w, r, "mutate", func(g *generation) time.Duration { return g.cluster.cfg.Executor.MutationTimeout() },
		s.mutateKey, nil, func(d time.Duration) { s.metrics.mutationReq.Observe(ms(d)) })
}

// pin parses image and resolves it to its digest (through the short tag
// cache), returning the reference pinned to the digest.
func pin(ctx context.Context, sc scope, image string) (registry.Reference, error) {
	ref, pinned, err := sc.refs.parse(image)
	if err != nil || pinned {
		return ref, err
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
	return s.verdict(ctx, sc, subject, traceID, ans)
}

// cachedKey answers one image as verifyKey would, from memory alone: its
// tag's digest (for a tag) and a fresh verdict kept in memory. It reports
// false, for verifyKey to answer, when anything needs more (resolving a
// tag, the shared tier, a verification) or the image does not parse.
func (s *Server) cachedKey(ctx context.Context, g *generation, namespace, image, traceID string) (item, bool) {
	sc, scopeName := g.scopeFor(namespace)
	ref, pinned, err := sc.refs.parse(image)
	if err != nil {
		return item{}, false
	}
	if !pinned {
		desc, ok := sc.store.CachedResolve(ref)
		if !ok {
			return item{}, false
		}
		ref.Reference = desc.Digest.String()
	}
	subject := ref.Registry + "/" + ref.Repository + "@" + ref.Reference
	ans, ok := s.results.Cached(cache.ResultKey(sc.cfg.Digest, scopeName, subject, nil))
	if !ok {
		return item{}, false
	}
	return s.verdict(ctx, sc, subject, traceID, ans), true
}

// verdict is the item of a verification answered by ans.
func (s *Server) verdict(ctx context.Context, sc scope, subject, traceID string, ans cache.Answer) item {
	s.metrics.resultCache(ans.Cached())
	if s.tracer != nil {
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("ratify.result_source", ans.Source.String()))
	}
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
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("verified", "trace_id", traceID, "subject", subject, "success", res.IsSuccess, "source", ans.Source)
	}
	if sc.flat {
		if v, ok := newTracedResult(ans.JSON, traceID); ok {
			return item{Value: v, result: &res}
		}
	}
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
		return s.keyError("mutate", "["+namespace+"]"+image, traceID, fmt.Errorf("mutation keys carry no namespace (Gatekeeper's Assign sends the image as the pod spells it): %w",
			errdef.ErrInvalidReference))
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
