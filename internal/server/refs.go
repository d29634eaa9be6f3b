package server

import (
	"sync"
	"sync/atomic"

	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
)

// maxMemoRefs bounds the images a refMemo holds.
const maxMemoRefs = 16384

// refMemo remembers what images parse to (ratify.ParseReference, whose
// regular expressions were a fifth of a warm key's cost), since
// Gatekeeper names the same few images again and again. It holds at most
// maxMemoRefs images and starts afresh when full; only references that
// parsed are kept. It is safe for concurrent use.
type refMemo struct {
	n    atomic.Int64
	refs atomic.Pointer[sync.Map] // image -> parsed
}

// parsed is a reference and whether it names a digest.
type parsed struct {
	ref    registry.Reference
	pinned bool
}

func newRefMemo() *refMemo {
	m := &refMemo{}
	m.refs.Store(new(sync.Map))
	return m
}

// parse returns ratify.ParseReference(image), remembered, and whether it
// names a digest (rather than a tag).
func (m *refMemo) parse(image string) (ref registry.Reference, pinned bool, err error) {
	refs := m.refs.Load()
	if p, ok := refs.Load(image); ok {
		return p.(parsed).ref, p.(parsed).pinned, nil
	}
	if ref, err = ratify.ParseReference(image); err != nil {
		return ref, false, err
	}
	_, err = ref.Digest()
	pinned = err == nil
	if m.n.Add(1) > maxMemoRefs {
		refs = new(sync.Map)
		m.refs.Store(refs)
		m.n.Store(1)
	}
	refs.Store(image, parsed{ref, pinned})
	return ref, pinned, nil
}
