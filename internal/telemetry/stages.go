package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/openratify/ratify/errdef"
)

// The stages of a verification that Stages times.
const (
	// StageRegistry is one call to a registry store that no cache
	// answered (operation resolve, referrers or fetch), retries included.
	StageRegistry = "registry"
	// StageRevocation is one OCSP (RFC 6960) or CRL (RFC 5280) fetch
	// (operation ocsp, crl, or other when the answer says neither).
	StageRevocation = "revocation"
	// StageVerifier is one verifier call (operation: the verifier type)
	// less the time it waited on registries and revocation servers.
	StageVerifier = "verifier"
	// StagePolicy is one policy decision (operation decide, or
	// decide_nested for a nested subject).
	StagePolicy = "policy"
)

// Outcomes of a stage.
const (
	OutcomeSuccess  = "success"   // verifier or policy passed; registry or revocation server answered
	OutcomeFailure  = "failure"   // verifier or policy said no
	OutcomeNotFound = "not_found" // the registry has no such thing
	OutcomeError    = "error"     // could not complete
)

// Observer is told how long one stage took. Its labels are bounded: a
// stage, an operation and an outcome from the constants above, never an
// image reference.
type Observer func(stage, operation, outcome string, d time.Duration)

// Stages traces and times the stages of verifications: its Store and
// Transport wrap the registry store and the revocation HTTP client, and
// its ExecutorTracer is the executor's. The zero value records nothing.
type Stages struct {
	// Tracer makes the spans; nil makes none.
	Tracer trace.Tracer
	// Observe, when set, is told each stage's duration.
	Observe Observer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Stages) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stages) observe(stage, operation, outcome string, d time.Duration) {
	if s.Observe != nil {
		s.Observe(stage, operation, outcome, max(d, 0))
	}
}

// start begins a span, or returns one that records nothing without a Tracer.
func (s *Stages) start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if s.Tracer == nil {
		return ctx, noop.Span{}
	}
	return s.Tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// registryOutcome classifies a registry store's error.
func registryOutcome(err error) string {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, errdef.ErrNotFound):
		return OutcomeNotFound
	}
	return OutcomeError
}

// endSpan records outcome on span, with the error status when err is
// set, and ends it.
func endSpan(span trace.Span, outcome string, err error) {
	span.SetAttributes(attribute.String("ratify.outcome", outcome))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
