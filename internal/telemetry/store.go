package telemetry

import (
	"context"
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/openratify/ratify"
)

// Store wraps a registry store so that each call gets a client span
// ("registry.resolve", "registry.referrers", "registry.fetch") and a
// StageRegistry duration. Put it under any cache, so that only real
// registry calls count.
func (s *Stages) Store(next ratify.Store) ratify.Store {
	return &store{next: next, stages: s}
}

type store struct {
	next   ratify.Store
	stages *Stages
}

func (s *store) Resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	ctx, span, done := s.begin(ctx, "resolve", ref, attribute.String("ratify.reference", ref.Reference))
	desc, err := s.next.Resolve(ctx, ref)
	if err == nil {
		span.SetAttributes(attribute.String("ratify.digest", desc.Digest.String()), attribute.String("ratify.media_type", desc.MediaType))
	}
	done(err)
	return desc, err
}

func (s *store) Referrers(ctx context.Context, repo registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	ctx, span, done := s.begin(ctx, "referrers", repo, attribute.String("ratify.digest", subject.Digest.String()),
		attribute.String("ratify.media_type", subject.MediaType))
	referrers, err := s.next.Referrers(ctx, repo, subject)
	span.SetAttributes(attribute.Int("ratify.referrers", len(referrers)))
	done(err)
	return referrers, err
}

func (s *store) Fetch(ctx context.Context, repo registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	ctx, _, done := s.begin(ctx, "fetch", repo, attribute.String("ratify.digest", desc.Digest.String()),
		attribute.String("ratify.media_type", desc.MediaType), attribute.String("ratify.artifact_type", desc.ArtifactType),
		attribute.Int64("ratify.size", desc.Size))
	content, err := s.next.Fetch(ctx, repo, desc)
	done(err)
	return content, err
}

// begin starts a registry call's span and clock; done ends them.
func (s *store) begin(ctx context.Context, op string, repo registry.Reference, attrs ...attribute.KeyValue) (context.Context, trace.Span, func(error)) {
	attrs = append(attrs, attribute.String("ratify.registry", repo.Registry), attribute.String("ratify.repository", repo.Repository))
	ctx, span := s.stages.start(ctx, "registry."+op, trace.SpanKindClient, attrs...)
	start := s.stages.now()
	return ctx, span, func(err error) {
		end := s.stages.now()
		addWait(ctx, start, end)
		outcome := registryOutcome(err)
		s.stages.observe(StageRegistry, op, outcome, end.Sub(start))
		var resp *errcode.ErrorResponse
		if errors.As(err, &resp) {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		}
		endSpan(span, outcome, err)
	}
}

// Throttling passes on what the store under it says of a registry that
// throttles it (registry.Store.Throttling), so that caches above can
// spare it requests; false when that store cannot tell.
func (s *store) Throttling(host string) bool {
	t, ok := s.next.(interface{ Throttling(string) bool })
	return ok && t.Throttling(host)
}
