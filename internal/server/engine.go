package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/config"
)

// generation is one loaded configuration and the engine built from it.
// Results are cached per generation, so that none made under an older
// configuration is ever served.
type generation struct {
	id     uint64
	cfg    *config.Config
	exec   *ratify.Executor
	store  ratify.Store // what exec reads through, caches included
	loaded time.Time
}

// engine holds the live generation and replaces it when config.json
// changes. A file that does not load is reported and the last good
// generation keeps serving.
type engine struct {
	path      string
	build     config.BuildOptions
	storeOpts cache.StoreOptions
	metrics   *metrics
	log       *slog.Logger

	current atomic.Pointer[generation]
	nextID  uint64
}

// load reads the configuration and, if it changed, builds and installs a
// new generation. It reports whether a new generation was installed.
func (e *engine) load() (bool, error) {
	cfg, err := config.Load(e.path)
	if err != nil {
		return false, err
	}
	if cur := e.current.Load(); cur != nil && cur.cfg.Digest == cfg.Digest {
		return false, nil
	}
	var store ratify.Store
	opts := e.build
	opts.WrapStore = func(s ratify.Store) ratify.Store {
		cs := cache.NewStore(s, e.storeOpts)
		cs.OnContent = e.metrics.blobCache
		store = cs
		return cs
	}
	exec, err := config.Build(cfg, opts)
	if err != nil {
		return false, err
	}
	e.nextID++
	e.current.Store(&generation{id: e.nextID, cfg: cfg, exec: exec, store: store, loaded: time.Now()})
	return true, nil
}

// watch reloads the configuration every interval until ctx ends.
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
