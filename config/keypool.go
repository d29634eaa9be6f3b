package config

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	"github.com/openratify/ratify/keys"
)

// KeyPool keeps key management providers alive across the rebuilds of a
// long-running server. A provider whose declaration (name, type and
// parameters) did not change is the same value in the next Build, with its
// material, status and refresh schedule; one whose declaration changed is
// built anew. While Run runs, every provider that refreshes (such as
// keys.Refreshing) is fetched at once and then every refresh interval in
// the background, so that verifications do not wait for a vault.
//
// The zero value is not usable; call NewKeyPool. A KeyPool is safe for
// concurrent use.
type KeyPool struct {
	mu      sync.Mutex
	entries map[string]*poolEntry // by provider name
	ctx     context.Context       // Run's, while it runs
	wg      sync.WaitGroup
}

type poolEntry struct {
	spec     []byte
	provider keys.Provider
	cancel   context.CancelFunc // stops its background refresh; nil when none runs
}

// runner is a provider that can refresh itself in the background.
type runner interface {
	Run(ctx context.Context)
}

// NewKeyPool returns an empty pool.
func NewKeyPool() *KeyPool {
	return &KeyPool{entries: map[string]*poolEntry{}}
}

// provider returns the pooled provider for k, building it when k is new
// or changed.
func (p *KeyPool) provider(cfg *Config, k KeyProvider, opts BuildOptions) (keys.Provider, error) {
	spec := providerSpec(cfg, k)
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[k.Name]; ok && bytes.Equal(e.spec, spec) {
		return e.provider, nil
	}
	built, err := buildKeyProvider(cfg, k, opts)
	if err != nil {
		return nil, err
	}
	if old, ok := p.entries[k.Name]; ok && old.cancel != nil {
		old.cancel()
	}
	e := &poolEntry{spec: spec, provider: built}
	p.entries[k.Name] = e
	p.startLocked(e)
	return built, nil
}

// providerSpec identifies a declaration: what it says and the directory
// its relative paths are read from.
func providerSpec(cfg *Config, k KeyProvider) []byte {
	var params bytes.Buffer
	if json.Compact(&params, k.Parameters) != nil {
		params.Write(k.Parameters)
	}
	spec, _ := json.Marshal([]string{k.Name, k.Type, params.String(), cfg.Dir})
	return spec
}

// Retain drops the providers whose names are not in names (no longer
// declared by the configuration in force) and stops their refresh.
func (p *KeyPool) Retain(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, e := range p.entries {
		if keep[name] {
			continue
		}
		if e.cancel != nil {
			e.cancel()
		}
		delete(p.entries, name)
	}
}

// Status returns the status of the provider named name.
func (p *KeyPool) Status(name string) (keys.Status, bool) {
	p.mu.Lock()
	e, ok := p.entries[name]
	p.mu.Unlock()
	if !ok {
		return keys.Status{}, false
	}
	return e.provider.Status(), true
}

// Fetch makes sure the provider named name has tried to obtain its material
// (it fetches unless its material is fresh) and returns its status.
func (p *KeyPool) Fetch(ctx context.Context, name string) (keys.Status, bool) {
	p.mu.Lock()
	e, ok := p.entries[name]
	p.mu.Unlock()
	if !ok {
		return keys.Status{}, false
	}
	_, _ = e.provider.Material(ctx) // the outcome is in the status
	return e.provider.Status(), true
}

// Run refreshes the pooled providers in the background until ctx ends,
// then waits for their refreshes to stop. Providers added while it runs
// are refreshed too.
func (p *KeyPool) Run(ctx context.Context) {
	p.mu.Lock()
	p.ctx = ctx
	for _, e := range p.entries {
		p.startLocked(e)
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.mu.Lock()
	p.ctx = nil
	for _, e := range p.entries {
		e.cancel = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// startLocked starts e's background refresh, when Run runs and e can
// refresh: one fetch now, then one per interval.
func (p *KeyPool) startLocked(e *poolEntry) {
	r, ok := e.provider.(runner)
	if !ok || p.ctx == nil || e.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	e.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_, _ = e.provider.Material(ctx) // the outcome is in the status
		r.Run(ctx)
	}()
}
