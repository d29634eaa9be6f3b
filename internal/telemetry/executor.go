package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// ExecutorTracer returns the tracer to give ratify.Executor.Tracer: it
// makes the executor's spans with s.Tracer (none when nil) and times, from
// them, each verifier call ("ratify.verifier": StageVerifier, less the
// waits that Store and Transport record in the call's context) and each
// policy decision ("ratify.policy": StagePolicy). Timing from the spans,
// rather than by wrapping verifiers and policies, keeps every optional
// ability they have visible to the executor and its callers.
func (s *Stages) ExecutorTracer() trace.Tracer {
	next := s.Tracer
	if next == nil {
		next = noop.NewTracerProvider().Tracer(TracerName)
	}
	return &executorTracer{next: next, stages: s}
}

type executorTracer struct {
	embedded.Tracer
	next   trace.Tracer
	stages *Stages
}

func (t *executorTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx, span := t.next.Start(ctx, name, opts...)
	var ts *timedSpan
	switch name {
	case "ratify.verifier":
		ts = &timedSpan{Span: span, stages: t.stages, stage: StageVerifier,
			operation: startAttr(opts, "ratify.verifier.type").AsString()}
		ctx, ts.waits = withWaits(ctx)
	case "ratify.policy":
		ts = &timedSpan{Span: span, stages: t.stages, stage: StagePolicy, operation: "decide"}
		if startAttr(opts, "ratify.depth").AsInt64() > 0 {
			ts.operation = "decide_nested"
		}
	default:
		return ctx, span
	}
	ts.start = t.stages.now()
	return ctx, ts
}

// startAttr returns the value of the attribute key among a span's start
// options (the zero Value when it has none).
func startAttr(opts []trace.SpanStartOption, key attribute.Key) attribute.Value {
	cfg := trace.NewSpanStartConfig(opts...)
	for _, a := range cfg.Attributes() {
		if a.Key == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

// timedSpan observes its stage's duration when it ends, with the outcome
// the executor recorded on it.
type timedSpan struct {
	trace.Span
	stages           *Stages
	stage, operation string
	waits            *waits // nil: nothing to subtract
	start            time.Time
	mu               sync.Mutex
	outcome          string
	once             sync.Once
}

func (s *timedSpan) SetAttributes(kv ...attribute.KeyValue) {
	for _, a := range kv {
		if a.Key == "ratify.outcome" {
			s.mu.Lock()
			s.outcome = a.Value.AsString()
			s.mu.Unlock()
		}
	}
	s.Span.SetAttributes(kv...)
}

func (s *timedSpan) End(opts ...trace.SpanEndOption) {
	s.once.Do(func() {
		end := s.stages.now()
		d := end.Sub(s.start)
		if s.waits != nil {
			d -= s.waits.covered(s.start, end)
		}
		s.mu.Lock()
		outcome := s.outcome
		s.mu.Unlock()
		s.stages.observe(s.stage, s.operation, outcome, d)
	})
	s.Span.End(opts...)
}
