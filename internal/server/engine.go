package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/internal/telemetry"
)

// Overlay is configuration supplied on top of config.json, by the
// Kubernetes resources: the cluster-wide parts apply to every key; the
// parts of a namespace apply, over the cluster-wide ones, to keys
// "[namespace]image" from that namespace.
type Overlay struct {
	Cluster    config.Parts
	Namespaces map[string]config.Parts
}

// scope is an engine for one set of keys: the cluster, or one namespace.
type scope struct {
	cfg   *config.Config
	exec  *ratify.Executor
	store *cache.Store // what exec reads through, caches included
	refs  *refMemo     // the images keys named, parsed
	// flat is whether the policy presents results as ratify.Result (not
	// in the nested form; see ratify.Presented).
	flat bool
}

// generation is one configuration and the engines built from it. Results
// are cached by each scope's configuration content (config.Config.Digest),
// so that none made under another configuration is ever served, and
// replicas with the same configuration share them.
type generation struct {
	id         uint64
	cluster    scope
	namespaces map[string]scope
	loaded     time.Time
}

// scopeFor returns the engine for keys from namespace ("" for none) and
// the name that scopes its cached results.
func (g *generation) scopeFor(namespace string) (scope, string) {
	if s, ok := g.namespaces[namespace]; ok && namespace != "" {
		return s, namespace
	}
	return g.cluster, ""
}

// namespaceScope returns the engine g has for namespace ns, if any.
func (g *generation) namespaceScope(ns string) (scope, bool) {
	if g == nil {
		return scope{}, false
	}
	s, ok := g.namespaces[ns]
	return s, ok
}

// samePartsJSON reports whether two parts say the same thing.
func samePartsJSON(a, b config.Parts) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// engine holds the live generation and replaces it when config.json or the
// overlay changes. A configuration that does not build is reported and the
// last good generation keeps serving.
type engine struct {
	path      string
	build     config.BuildOptions
	storeOpts cache.StoreOptions
	metrics   *metrics
	stages    *telemetry.Stages
	log       *slog.Logger

	current atomic.Pointer[generation]

	mu      sync.Mutex // serializes rebuilds; guards the fields below
	base    *config.Config
	overlay Overlay
	nextID  uint64
}

// load reads config.json and, if it changed, rebuilds. It reports whether
// a new generation was installed.
func (e *engine) load() (bool, error) {
	cfg, err := config.Load(e.path)
	if err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.base != nil && e.base.Digest == cfg.Digest {
		return false, nil
	}
	if err := e.rebuild(cfg, e.overlay); err != nil {
		return false, err
	}
	return true, nil
}

// setOverlay rebuilds with a new overlay over the current config.json.
func (e *engine) setOverlay(o Overlay) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rebuild(e.base, o)
}

// rebuild builds every scope of base plus overlay and installs them as one
// new generation, or changes nothing and returns why not.
func (e *engine) rebuild(base *config.Config, o Overlay) error {
	clusterCfg, err := config.Compose(base, o.Cluster)
	if err != nil {
		return fmt.Errorf("cluster configuration: %w", err)
	}
	cluster, err := e.scope(clusterCfg, "")
	if err != nil {
		return fmt.Errorf("cluster configuration: %w", err)
	}
	g := &generation{cluster: cluster, namespaces: map[string]scope{}, loaded: time.Now()}
	prev := e.current.Load()
	var errs []error
	for _, ns := range slices.Sorted(maps.Keys(o.Namespaces)) {
		parts := o.Namespaces[ns]
		if parts.IsZero() {
			continue
		}
		cfg, err := config.Compose(clusterCfg, parts)
		if err == nil {
			g.namespaces[ns], err = e.scope(cfg, ns)
		}
		if err == nil {
			continue
		}
		// A namespace whose own parts did not change, but that no longer
		// builds (its certificates went away, say), keeps its last good
		// engine: one tenant's trouble must not block changes elsewhere.
		if old, ok := prev.namespaceScope(ns); ok && samePartsJSON(e.overlay.Namespaces[ns], parts) {
			e.log.Warn("namespace configuration no longer builds; its last good one keeps serving", "namespace", ns, "error", err)
			g.namespaces[ns] = old
			continue
		}
		errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.nextID++
	g.id = e.nextID
	e.base, e.overlay = base, o
	e.current.Store(g)
	if e.build.KeyPool != nil {
		e.build.KeyPool.Retain(g.keyProviders())
	}
	return nil
}

// keyProviders names the key management providers of every scope of g.
func (g *generation) keyProviders() []string {
	var names []string
	for _, s := range append([]scope{g.cluster}, slices.Collect(maps.Values(g.namespaces))...) {
		for _, k := range s.cfg.KeyManagementProviders {
			names = append(names, k.Name)
		}
	}
	return names
}

// scope builds the engine of one configuration, for the keys of namespace
// name ("" for the cluster's), reading through a new cache store; the
// registry store under it traces and times the calls that the cache does
// not answer. Tag resolutions shared between replicas are scoped as
// results are (see verifyKey).
func (e *engine) scope(cfg *config.Config, name string) (scope, error) {
	var store *cache.Store
	opts := e.build
	storeOpts := e.storeOpts
	storeOpts.ConfigDigest, storeOpts.Scope = cfg.Digest, name
	opts.WrapStore = func(s ratify.Store) ratify.Store {
		cs := cache.NewStore(e.stages.Store(s), storeOpts)
		cs.OnContent = e.metrics.blobCache
		cs.OnReuse = e.metrics.reuse
		store = cs
		return cs
	}
	exec, err := config.Build(cfg, opts)
	if err != nil {
		return scope{}, err
	}
	_, flat := ratify.Presented(exec.Policy, ratify.Result{}).(ratify.Result)
	return scope{cfg: cfg, exec: exec, store: store, refs: newRefMemo(), flat: flat}, nil
}

// watch reloads config.json every interval until ctx ends.
func (e *engine) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := e.load()
		switch {
		case err != nil:
			if err.Error() != lastErr {
				e.log.Error("config.json could not be loaded; the last good configuration keeps serving",
					"path", e.path, "error", err, "generation", e.current.Load().id)
				e.metrics.configReload("failure")
			}
			lastErr = err.Error()
		case changed:
			lastErr = ""
			e.log.Info("config.json reloaded", "path", e.path, "generation", e.current.Load().id)
			e.metrics.configReload("success")
		}
	}
}
