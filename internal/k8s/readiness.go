package k8s

import "sync"

// readiness tells when every resource that existed when the caches first
// synced has been reconciled once, so that the provider does not answer
// with config.json's sections while the cluster's resources are still
// being read.
type readiness struct {
	mu      sync.Mutex
	seen    map[key]bool // reconciled before the wait list was known
	waiting map[key]bool // nil until expect
	done    chan struct{}
}

func newReadiness() *readiness {
	return &readiness{seen: map[key]bool{}, done: make(chan struct{})}
}

// reconciled records that k has been reconciled.
func (r *readiness) reconciled(k key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.isDone():
	case r.waiting == nil:
		r.seen[k] = true
	default:
		delete(r.waiting, k)
		r.closeIfEmpty()
	}
}

// expect sets the resources to wait for (those listed after the caches
// synced), less those already reconciled.
func (r *readiness) expect(keys []key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isDone() || r.waiting != nil {
		return
	}
	r.waiting = map[key]bool{}
	for _, k := range keys {
		if !r.seen[k] {
			r.waiting[k] = true
		}
	}
	r.seen = nil
	r.closeIfEmpty()
}

// ready is closed once every expected resource has been reconciled.
func (r *readiness) ready() <-chan struct{} { return r.done }

func (r *readiness) isDone() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *readiness) closeIfEmpty() {
	if len(r.waiting) == 0 {
		close(r.done)
	}
}
