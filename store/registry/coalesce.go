package registry

import (
	"context"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
)

// Every request a Store makes is shared by the callers that need the same
// thing at the same time: one tag resolution, referrers listing or content
// fetch runs for all the verifications that ask for it meanwhile (a
// rollout's pods asking for one image), so a burst of identical requests
// costs the registry one. The shared request runs until the first caller's
// deadline, whatever that caller's cancellation; each caller waits at most
// until its own context ends.

// Resolve returns the descriptor of the manifest ref names by tag or digest
// (a HEAD of the manifest, OCI distribution-spec v1.1 "Checking if content
// exists in the registry").
func (s *Store) Resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	return coalesce(ctx, s, "resolve "+ref.String(), func(ctx context.Context) (ocispec.Descriptor, error) {
		return s.resolve(ctx, ref)
	})
}

// Referrers lists the manifests in ref's repository whose subject is
// subject. It uses the referrers API of the OCI distribution-spec v1.1
// ("Listing Referrers"), following its pages, and falls back to the
// referrers tag schema ("sha256-<hex>") on registries without the API. With
// Options.CosignEnabled it adds the cosign signature tagged
// "sha256-<hex>.sig", if there is one.
//
// More than Options.MaxReferrers referrers is an error wrapping
// errdef.ErrSizeExceedsLimit. A registry that cannot be reached or fails is
// an error, never an empty list.
func (s *Store) Referrers(ctx context.Context, ref registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	key := "referrers " + ref.Registry + "/" + ref.Repository + "@" + subject.Digest.String()
	out, err := coalesce(ctx, s, key, func(ctx context.Context) ([]ocispec.Descriptor, error) {
		return s.referrers(ctx, ref, subject)
	})
	return append([]ocispec.Descriptor(nil), out...), err // callers may change their copy
}

// Fetch returns the content desc describes from ref's repository: a manifest
// from the manifest endpoint ("Pulling manifests", OCI distribution-spec
// v1.1), anything else from the blob endpoint ("Pulling blobs").
//
// A descriptor larger than Options.MaxManifestBytes or Options.MaxBlobBytes
// is refused before any request, with an error wrapping
// errdef.ErrSizeExceedsLimit. Content whose size or digest is not the
// descriptor's is an error wrapping errdef.ErrInvalidContent.
//
// Callers that share a fetch share its bytes: they must not change them.
func (s *Store) Fetch(ctx context.Context, ref registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	key := fmt.Sprintf("fetch %s/%s@%s %s %d", ref.Registry, ref.Repository, desc.Digest, desc.MediaType, desc.Size)
	return coalesce(ctx, s, key, func(ctx context.Context) ([]byte, error) {
		return s.fetch(ctx, ref, desc)
	})
}

// flight is a request shared by the callers waiting for it.
type flight struct {
	done    chan struct{} // closed once val and err are set
	val     any
	err     error
	waiters int                // callers still waiting; under Store.mu
	cancel  context.CancelFunc // ends the request once no caller waits
}

// coalesce runs f once for the concurrent callers asking for key. The
// request outlives the cancellation of any one caller, not of all: once
// every caller has stopped waiting it is cancelled (and the next caller
// starts another), so nothing runs on for no one, during a shutdown
// above all.
func coalesce[T any](ctx context.Context, s *Store, key string, f func(context.Context) (T, error)) (T, error) {
	s.mu.Lock()
	fl, ok := s.inflight[key]
	if !ok {
		shared := context.WithoutCancel(ctx)
		var cancel context.CancelFunc
		if deadline, ok := ctx.Deadline(); ok {
			shared, cancel = context.WithDeadline(shared, deadline)
		} else {
			shared, cancel = context.WithTimeout(shared, maxSharedRequest)
		}
		fl = &flight{done: make(chan struct{}), cancel: cancel}
		s.inflight[key] = fl
		go func() {
			defer cancel()
			v, err := f(shared)
			s.mu.Lock()
			if s.inflight[key] == fl {
				delete(s.inflight, key)
			}
			s.mu.Unlock()
			fl.val, fl.err = v, err
			close(fl.done)
		}()
	}
	fl.waiters++
	s.mu.Unlock()
	if s.joined != nil {
		s.joined(key)
	}
	select {
	case <-fl.done:
		v, _ := fl.val.(T)
		return v, fl.err
	case <-ctx.Done():
		s.mu.Lock()
		if fl.waiters--; fl.waiters == 0 {
			fl.cancel()
			if s.inflight[key] == fl {
				delete(s.inflight, key)
			}
		}
		s.mu.Unlock()
		var zero T
		return zero, ctx.Err()
	}
}

// maxSharedRequest bounds a shared request whose first caller set no
// deadline.
const maxSharedRequest = 5 * time.Minute
