package ratify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify/errdef"
)

// Defaults of the Executor's limits.
const (
	DefaultConcurrency     = 8
	DefaultMaxNestingDepth = 3
)

// Executor verifies subjects: it lists a subject's referrers, runs every
// verifier that handles each referrer's artifact type, recurses into nested
// references, and lets the policy decide. The zero value is not usable: Store,
// Verifiers and Policy are required.
type Executor struct {
	Store     Store
	Verifiers []Verifier
	Policy    Policy

	// Concurrency bounds how many verifier calls run at once for one
	// subject, nested subjects included. Zero means DefaultConcurrency.
	Concurrency int
	// MaxNestingDepth bounds nested verification (a signature on an SBOM on
	// an image is depth 2). Zero means DefaultMaxNestingDepth.
	MaxNestingDepth int
	// Timeout is the deadline for verifying one subject, from resolving its
	// reference to the policy's decision. Zero means no deadline beyond ctx.
	Timeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// OnVerifier, when set, is called after each verifier call with how
	// long it took and what it returned (for metrics).
	OnVerifier func(v Verifier, d time.Duration, report Report, err error)
	// Tracer, when set, records an OpenTelemetry span for each subject
	// verified ("ratify.verify"; a nested subject's is a child of its
	// parent's), each verifier call ("ratify.verifier") and each policy
	// decision ("ratify.policy"), under the span in the caller's context.
	// The store's spans, if it makes any, nest in these. Nil: no spans.
	Tracer trace.Tracer
	// PlatformMode, when set, says by repository ("registry/repository")
	// what makes an image index pass (see PlatformMode); nil, or
	// PlatformsIndex, verifies an index on its own artifacts, as any
	// subject.
	PlatformMode func(repository string) PlatformMode
	// Selection narrows, by artifact type, the referrers that are
	// verified (see ArtifactSelection); types not in it are all verified.
	Selection map[string]ArtifactSelection
}

// VerifyOptions tune one verification.
type VerifyOptions struct {
	// ArtifactTypes, when set, restricts verification to referrers of these types.
	ArtifactTypes []string
	// TraceID is copied into the result.
	TraceID string
}

// Verify resolves reference, verifies what is attached to it and returns the
// policy's verdict. A subject that fails verification is a Result with
// IsSuccess false and a nil error; a non-nil error means no verdict could be
// reached (bad reference, unreachable registry, deadline), and callers must
// treat it as "not verified".
func (e *Executor) Verify(ctx context.Context, reference string, opts VerifyOptions) (Result, error) {
	ref, err := ParseReference(reference)
	if err != nil {
		return Result{}, err
	}
	return e.VerifyReference(ctx, ref, opts)
}

// VerifyReference is Verify for an already parsed reference.
func (e *Executor) VerifyReference(ctx context.Context, ref registry.Reference, opts VerifyOptions) (Result, error) {
	if e.Store == nil || e.Policy == nil {
		return Result{}, fmt.Errorf("executor needs a store and a policy: %w", errdef.ErrInvalidConfig)
	}
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
	}
	ctx, span := e.start(ctx, "ratify.verify", attribute.String("ratify.reference", ref.String()),
		attribute.StringSlice("ratify.artifact_types", opts.ArtifactTypes), attribute.String("ratify.trace_id", opts.TraceID))
	res, err := e.verifyReference(ctx, span, ref, opts)
	endSpan(span, res.IsSuccess, err, "the policy did not pass the subject")
	return res, err
}

// verifyReference is VerifyReference under its deadline and span.
func (e *Executor) verifyReference(ctx context.Context, span trace.Span, ref registry.Reference, opts VerifyOptions) (Result, error) {
	run := &run{
		exec:  e,
		memo:  &memoStore{store: e.Store},
		sem:   make(chan struct{}, cmpOr(e.Concurrency, DefaultConcurrency)),
		types: opts.ArtifactTypes,
	}
	subject := Subject{Reference: ref}
	if d, err := ref.Digest(); err == nil {
		// A digest reference needs no request to know what it names; the
		// media type and size are completed later, from a referrer, only
		// when a verifier needs them (see completeSubject).
		subject.Descriptor = ocispec.Descriptor{Digest: d}
	} else {
		desc, err := e.Store.Resolve(ctx, ref)
		if err != nil {
			return Result{}, deadlineError(ctx, err)
		}
		subject.Descriptor = desc
	}
	span.SetAttributes(attribute.String("ratify.subject", subject.String()))
	var (
		out indexOutcome
		err error
	)
	mode := PlatformsIndex
	if e.PlatformMode != nil {
		mode = e.PlatformMode(ref.Registry + "/" + ref.Repository)
	}
	if mode != PlatformsIndex && subject.Descriptor.MediaType == "" {
		// Whether a digest names an index takes a look: only when the
		// mode makes indexes special.
		if subject, err = run.resolveDigest(ctx, subject); err != nil {
			return Result{}, deadlineError(ctx, err)
		}
	}
	if mode != PlatformsIndex && isIndex(subject.Descriptor.MediaType) {
		out, err = run.verifyIndex(ctx, subject, mode)
	} else {
		out.reports, out.ok, err = run.verifySubject(ctx, subject, nil, 0)
	}
	if err != nil {
		return Result{}, deadlineError(ctx, err)
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	return Result{
		Version:         ResultVersion,
		IsSuccess:       out.ok,
		TraceID:         opts.TraceID,
		Timestamp:       now().UTC(),
		VerifierReports: out.reports,
		Platforms:       out.platforms,
	}, nil
}

// deadlineError marks err as a timeout when a deadline is what stopped it:
// the verification's, or that of a request shared with other callers,
// which ends at the same instant but whose timer may fire first.
func deadlineError(ctx context.Context, err error) error {
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
	if timedOut && !errors.Is(err, errdef.ErrTimeout) {
		return fmt.Errorf("%w: %w", errdef.ErrTimeout, err)
	}
	return err
}

// run is the state of one call to Verify.
type run struct {
	exec  *Executor
	memo  *memoStore
	sem   chan struct{}
	types []string // artifact types to verify on the top-level subject; nil means all
}

// task is one (referrer, verifier) pair to run.
type task struct {
	artifact ocispec.Descriptor
	verifier Verifier
}

// verifySubject verifies the referrers of subject whose artifact types are
// in types (all when nil) and returns the reports and the policy's decision.
// depth counts nesting levels; a loop of referrers ends at MaxNestingDepth.
func (r *run) verifySubject(ctx context.Context, subject Subject, types []string, depth int) ([]Report, bool, error) {
	if depth == 0 {
		types = r.types
	}
	referrers, err := r.memo.Referrers(ctx, subject.Repository(), subject.Descriptor)
	if err != nil {
		return nil, false, err // the store's error names the subject
	}
	referrers = selectReferrers(referrers, r.exec.Selection)
	var tasks []task
	for _, a := range referrers {
		if types != nil && !slices.Contains(types, a.ArtifactType) {
			continue
		}
		for _, v := range r.exec.Verifiers {
			if v.CanVerify(a.ArtifactType) {
				tasks = append(tasks, task{artifact: a, verifier: v})
			}
		}
	}
	if subject.Descriptor.Size == 0 {
		if subject, err = r.completeSubject(ctx, subject, tasks); err != nil {
			return nil, false, err
		}
	}
	reports := make([]Report, len(tasks))
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Go(func() {
			reports[i], errs[i] = r.verifyArtifact(ctx, subject, t, depth)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, false, err
	}
	ctx, span := r.exec.start(ctx, "ratify.policy", attribute.Int("ratify.reports", len(reports)), attribute.Int("ratify.depth", depth))
	var ok bool
	switch p := r.exec.Policy.(type) {
	case NestedPolicy:
		if depth > 0 {
			ok = p.DecideNested(ctx, reports, types)
			break
		}
		ok, err = decide(ctx, r.exec.Policy, reports)
	default:
		ok, err = decide(ctx, r.exec.Policy, reports)
	}
	endSpan(span, ok, err, "the policy did not pass the reports")
	if err != nil {
		return nil, false, fmt.Errorf("policy: %w", err)
	}
	return reports, ok, nil
}

// decide asks policy for its verdict on a top-level subject; a policy
// whose evaluation can fail (EvaluatingPolicy) says so with an error, which
// is "could not verify", never a verdict.
func decide(ctx context.Context, policy Policy, reports []Report) (bool, error) {
	if ep, ok := policy.(EvaluatingPolicy); ok {
		return ep.Evaluate(ctx, reports)
	}
	return policy.Decide(ctx, reports), nil
}

// verifyArtifact runs one verifier on one artifact, then the nested
// verification the verifier asks for.
func (r *run) verifyArtifact(ctx context.Context, subject Subject, t task, depth int) (Report, error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return Report{}, fmt.Errorf("verify %s: %w", t.artifact.Digest, ctx.Err())
	}
	vctx, span := r.exec.start(ctx, "ratify.verifier", attribute.String("ratify.verifier.name", t.verifier.Name()),
		attribute.String("ratify.verifier.type", t.verifier.Type()), attribute.String("ratify.subject", subject.String()),
		attribute.String("ratify.artifact.digest", t.artifact.Digest.String()), attribute.String("ratify.artifact.type", t.artifact.ArtifactType))
	start := time.Now()
	report, err := t.verifier.Verify(vctx, subject, t.artifact, r.memo.fetcher(subject.Repository()))
	<-r.sem
	endSpan(span, report.IsSuccess, err, cmp.Or(report.ErrorReason, report.Message))
	if r.exec.OnVerifier != nil {
		r.exec.OnVerifier(t.verifier, time.Since(start), report, err)
	}
	if err != nil {
		return Report{}, fmt.Errorf("verifier %s on %s: %w", t.verifier.Name(), t.artifact.Digest, err)
	}
	r.fill(&report, subject, t)

	nv, ok := t.verifier.(NestedVerifier)
	if !ok || len(nv.NestedReferences()) == 0 || !report.IsSuccess {
		return report, nil
	}
	if depth+1 > cmpOr(r.exec.MaxNestingDepth, DefaultMaxNestingDepth) {
		return Report{}, fmt.Errorf("nested verification of %s deeper than %d levels: %w",
			t.artifact.Digest, cmpOr(r.exec.MaxNestingDepth, DefaultMaxNestingDepth), errdef.ErrSizeExceedsLimit)
	}
	nested := Subject{Reference: subject.Reference, Descriptor: t.artifact}
	nested.Reference.Reference = t.artifact.Digest.String()
	nctx, span := r.exec.start(ctx, "ratify.verify", attribute.String("ratify.subject", nested.String()),
		attribute.StringSlice("ratify.artifact_types", nv.NestedReferences()), attribute.Int("ratify.depth", depth+1))
	nestedReports, ok, err := r.verifySubject(nctx, nested, nv.NestedReferences(), depth+1)
	endSpan(span, ok, err, "the policy did not pass the nested subject")
	if err != nil {
		return Report{}, err
	}
	report.NestedResults = nestedReports
	if !ok {
		report.IsSuccess = false
		report.Message = "nested verification failed: " + report.Message
		if report.ErrorReason == "" {
			report.ErrorReason = fmt.Sprintf("the artifacts attached to %s did not pass verification", t.artifact.Digest)
		}
	}
	return report, nil
}

// completeSubject fills in the media type and size of a subject known only
// by digest. The manifest of the first artifact to verify names its subject
// (OCI image-spec v1.1 "subject"), and that manifest is read through the memo
// anyway, so when its subject digest is ours the descriptor costs no request.
// Size is bound to the digest; the media type is only a label, and a
// signature over another media type does not verify against it. Without a
// usable subject field, or without anything to verify (to tell "absent"
// from "unsigned"), the store resolves the digest.
func (r *run) completeSubject(ctx context.Context, subject Subject, tasks []task) (Subject, error) {
	if len(tasks) > 0 {
		raw, err := r.memo.fetcher(subject.Repository()).Fetch(ctx, tasks[0].artifact)
		if err != nil && (errors.Is(err, errdef.ErrRegistryUnavailable) || errors.Is(err, errdef.ErrTimeout) || ctx.Err() != nil) {
			// Asking the registry again, for the subject, while it fails or
			// throttles, only adds load: the verifier would fail the same.
			return subject, err
		}
		if err == nil {
			var m struct {
				Subject *ocispec.Descriptor `json:"subject"`
			}
			if json.Unmarshal(raw, &m) == nil && m.Subject != nil && m.Subject.Digest == subject.Descriptor.Digest &&
				m.Subject.Size > 0 && m.Subject.MediaType != "" {
				subject.Descriptor = ocispec.Descriptor{MediaType: m.Subject.MediaType, Digest: m.Subject.Digest, Size: m.Subject.Size}
				return subject, nil
			}
		}
	}
	return r.resolveDigest(ctx, subject)
}

// resolveDigest completes a subject known by digest with the registry's
// descriptor of it, checking that the registry names the same digest.
func (r *run) resolveDigest(ctx context.Context, subject Subject) (Subject, error) {
	desc, err := r.exec.Store.Resolve(ctx, subject.Reference)
	if err != nil {
		return subject, err
	}
	if desc.Digest != subject.Descriptor.Digest {
		return subject, fmt.Errorf("resolve %s: registry answered with digest %s: %w", subject.Reference, desc.Digest, errdef.ErrInvalidContent)
	}
	subject.Descriptor = desc
	return subject, nil
}

// fill sets the report fields the executor knows better than the verifier.
func (r *run) fill(report *Report, subject Subject, t task) {
	report.Subject = subject.String()
	report.VerifierName = t.verifier.Name()
	report.Name = t.verifier.Name()
	report.VerifierType = t.verifier.Type()
	report.Type = t.verifier.Type()
	report.ReferenceDigest = t.artifact.Digest.String()
	report.ArtifactType = t.artifact.ArtifactType
}

// start begins a span under ctx's, or, without a Tracer, returns ctx and
// a span that records nothing.
func (e *Executor) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if e.Tracer == nil {
		return ctx, noop.Span{}
	}
	return e.Tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan records an outcome on span and ends it: "success", "failure"
// (the verdict was no; failure says why) or "error" (could not verify).
// Anything but success has the error status, so that trace views flag it.
func endSpan(span trace.Span, ok bool, err error, failure string) {
	switch {
	case err != nil:
		span.SetAttributes(attribute.String("ratify.outcome", "error"))
		span.SetStatus(codes.Error, err.Error())
	case !ok:
		span.SetAttributes(attribute.String("ratify.outcome", "failure"))
		span.SetStatus(codes.Error, failure)
	default:
		span.SetAttributes(attribute.String("ratify.outcome", "success"))
	}
	span.End()
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
