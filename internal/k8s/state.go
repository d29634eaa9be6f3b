package k8s

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/internal/server"
)

// Target is what the resources configure: the provider's engine
// (*server.Server). SetOverlay installs a whole overlay or, returning an
// error, changes nothing.
type Target interface {
	SetOverlay(server.Overlay) error
	keyProviderStatus
}

// section is the part of config.json a kind of resource supplies.
type section int

const (
	sectionVerifier section = iota // verifier.plugins
	sectionStore                   // store.plugins
	sectionPolicy                  // policy.plugin
	sectionKeys                    // keyManagementProviders
)

// key identifies a resource: its section, namespace ("" for the cluster-wide
// kinds) and name. Section and namespace together name its kind.
type key struct {
	section   section
	namespace string
	name      string
}

// state is the configuration the cluster's resources supply: the accepted
// config.json entry of every Verifier, Store and Policy (cluster-wide and
// namespaced), by kind, namespace and name. It is shared by the reconcilers
// of every kind and is built by the caller, never held in a package
// variable.
//
// state and the Target agree: an entry is kept only once the overlay that
// holds it has been installed.
type state struct {
	target Target

	mu      sync.Mutex
	entries map[key]json.RawMessage
	// refused are resources whose entry was valid alone but refused by the
	// Target; each successful change retries them, since the resource that
	// conflicted with them may be gone.
	refused map[key]bool
	// stale is set when a removal could not be installed: the Target still
	// has the removed entry and the next apply retries.
	stale bool
	// retry, when set, is told which refused resources to reconcile again.
	retry func(context.Context, []key)
}

// newState returns an empty state that installs its overlays into target.
func newState(target Target) *state {
	return &state{target: target, entries: map[key]json.RawMessage{}, refused: map[key]bool{}}
}

// apply makes entry the accepted entry of k (nil removes it) and installs
// the resulting overlay. If the Target refuses it, the previous entry of k
// is restored and the Target's error returned; a refused removal stays
// removed and is retried by the next apply.
func (s *state) apply(ctx context.Context, k key, entry json.RawMessage) error {
	s.mu.Lock()
	prev, had := s.entries[k]
	if bytes.Equal(prev, entry) && (had == (entry != nil)) && !s.stale {
		delete(s.refused, k)
		s.mu.Unlock()
		return nil
	}
	if entry == nil {
		delete(s.entries, k)
	} else {
		s.entries[k] = entry
	}
	err := s.target.SetOverlay(s.overlayLocked())
	var retry []key
	switch {
	case err == nil:
		s.stale = false
		delete(s.refused, k)
		retry = slices.Collect(maps.Keys(s.refused))
		clear(s.refused)
	case entry == nil:
		s.stale = true
	default:
		if had {
			s.entries[k] = prev
		} else {
			delete(s.entries, k)
		}
		s.refused[k] = true
	}
	notify := s.retry
	s.mu.Unlock()
	if notify != nil && len(retry) > 0 {
		notify(ctx, retry)
	}
	return err
}

// setRetry sets the function told which refused resources to reconcile
// again after a successful change.
func (s *state) setRetry(retry func(context.Context, []key)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retry = retry
}

// prune removes the entries of resources not in present (deleted while no
// watch was running) and installs the overlay without them.
func (s *state) prune(present []key) error {
	keep := make(map[key]bool, len(present))
	for _, k := range present {
		keep[k] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	removed := false
	for k := range s.entries {
		if !keep[k] {
			delete(s.entries, k)
			removed = true
		}
	}
	if !removed && !s.stale {
		return nil
	}
	err := s.target.SetOverlay(s.overlayLocked())
	s.stale = err != nil
	return err
}

// has reports whether k has an accepted entry.
func (s *state) has(k key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.entries[k]
	return ok
}

// isStale reports whether a removal is yet to be installed.
func (s *state) isStale() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}

// overlay returns the overlay the accepted entries make.
func (s *state) overlay() server.Overlay {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overlayLocked()
}

// overlayLocked builds the overlay: cluster-wide resources make the cluster
// parts, each namespace with namespaced resources its own parts. A section
// with no resource stays nil, leaving config.json's (or, in a namespace,
// the cluster's) section in force. Entries of a section are ordered by
// resource name.
func (s *state) overlayLocked() server.Overlay {
	// Verifiers may name key management providers not (yet) created:
	// their verifications fail until they are.
	o := server.Overlay{Cluster: config.Parts{DeferKeyReferences: true}, Namespaces: map[string]config.Parts{}}
	keys := slices.SortedFunc(maps.Keys(s.entries), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.section, b.section), cmp.Compare(a.name, b.name))
	})
	for _, k := range keys {
		parts := o.Cluster
		if k.namespace != "" {
			parts = o.Namespaces[k.namespace]
			parts.DeferKeyReferences = true
		}
		switch entry := s.entries[k]; k.section {
		case sectionVerifier:
			parts.Verifiers = append(parts.Verifiers, entry)
		case sectionStore:
			parts.Stores = append(parts.Stores, entry)
		case sectionPolicy:
			parts.Policy = entry
		case sectionKeys:
			parts.KeyProviders = append(parts.KeyProviders, entry)
		}
		if k.namespace == "" {
			o.Cluster = parts
		} else {
			o.Namespaces[k.namespace] = parts
		}
	}
	return o
}
