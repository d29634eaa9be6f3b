package ratify

import (
	"context"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
)

// onceMap computes each key's value at most once; concurrent callers of the
// same key wait for the first and share its outcome, errors included.
type onceMap[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*onceEntry[V]
}

type onceEntry[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func (o *onceMap[K, V]) do(ctx context.Context, key K, fn func() (V, error)) (V, error) {
	o.mu.Lock()
	if o.m == nil {
		o.m = make(map[K]*onceEntry[V])
	}
	e, ok := o.m[key]
	if !ok {
		e = &onceEntry[V]{done: make(chan struct{})}
		o.m[key] = e
	}
	o.mu.Unlock()
	if !ok {
		e.val, e.err = fn()
		close(e.done)
		return e.val, e.err
	}
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// memoStore is the view of a Store that one verification uses: every
// manifest, blob and referrers list is read at most once, however many
// verifiers or nested subjects ask for it. Content is addressed by digest, so
// sharing it is always correct.
type memoStore struct {
	store     Store
	fetches   onceMap[string, []byte]
	referrers onceMap[string, []ocispec.Descriptor]
}

func (m *memoStore) Referrers(ctx context.Context, repo registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	key := repo.Registry + "/" + repo.Repository + "@" + subject.Digest.String()
	return m.referrers.do(ctx, key, func() ([]ocispec.Descriptor, error) {
		return m.store.Referrers(ctx, repo, subject)
	})
}

func (m *memoStore) fetcher(repo registry.Reference) Fetcher {
	return repoFetcher{memo: m, repo: repo}
}

// repoFetcher binds a memoStore to one repository for a Verifier.
type repoFetcher struct {
	memo *memoStore
	repo registry.Reference
}

func (f repoFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	key := f.repo.Registry + "/" + f.repo.Repository + "@" + desc.Digest.String()
	return f.memo.fetches.do(ctx, key, func() ([]byte, error) {
		return f.memo.store.Fetch(ctx, f.repo, desc)
	})
}
