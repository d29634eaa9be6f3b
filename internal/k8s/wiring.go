package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// queueBuffer is how many resources can wait to be sent to a controller's
// queue without blocking the sender (the channel source drains them as
// soon as its controller has started).
const queueBuffer = 256

// scope names a kind by the section it supplies and whether it is
// namespaced.
type scope struct {
	section    section
	namespaced bool
}

func scopeOf(k key) scope { return scope{k.section, k.namespace != ""} }

// wiring connects the reconcilers of one manager: the shared state, the
// queues that let resources be reconciled again on demand, and the
// listing of every resource.
type wiring struct {
	mgr      manager.Manager
	state    *state
	validate *validator
	log      *slog.Logger
	ready    *readiness
	// enqueue reconciles the given resources of a scope again.
	enqueue map[scope]func(context.Context, []key)
	// listers list the resources of each kind.
	listers []func(context.Context) ([]key, error)
}

// register adds the reconciler of kind k to the manager. It runs on every
// replica (NeedLeaderElection false); it also reconciles resources sent to
// its queue: all of them when this replica becomes the leader, refused
// ones when another change may let them in.
func register[O client.Object](w *wiring, k kind[O]) error {
	namespaced := strings.HasPrefix(k.name, "Namespaced")
	events := make(chan event.GenericEvent, queueBuffer)
	w.enqueue[scope{k.section, namespaced}] = func(ctx context.Context, keys []key) {
		for _, key := range keys {
			obj := k.newObject()
			obj.SetNamespace(key.namespace)
			obj.SetName(key.name)
			select {
			case events <- event.GenericEvent{Object: obj}:
			case <-ctx.Done():
				return
			}
		}
	}
	w.listers = append(w.listers, func(ctx context.Context) ([]key, error) {
		list := k.newList()
		if err := w.mgr.GetClient().List(ctx, list); err != nil {
			return nil, fmt.Errorf("list %s: %w", k.name, err)
		}
		var keys []key
		err := meta.EachListItem(list, func(o runtime.Object) error {
			if m, ok := o.(client.Object); ok {
				keys = append(keys, key{section: k.section, namespace: m.GetNamespace(), name: m.GetName()})
			}
			return nil
		})
		return keys, err
	})
	r := &reconciler[O]{
		client:   w.mgr.GetClient(),
		kind:     k,
		state:    w.state,
		validate: w.validate,
		leader:   w.mgr.Elected(),
		log:      w.log,
		now:      time.Now,
		seen:     w.ready.reconciled,
	}
	return builder.ControllerManagedBy(w.mgr).
		Named(strings.ToLower(k.name)).
		For(k.newObject(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(events, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(r)
}

// retry reconciles keys again, each through its kind's queue.
func (w *wiring) retry(ctx context.Context, keys []key) {
	byScope := map[scope][]key{}
	for _, k := range keys {
		byScope[scopeOf(k)] = append(byScope[scopeOf(k)], k)
	}
	for s, ks := range byScope {
		if enqueue := w.enqueue[s]; enqueue != nil {
			enqueue(ctx, ks)
		}
	}
}

// listAll lists every resource of every kind.
func (w *wiring) listAll(ctx context.Context) ([]key, error) {
	var all []key
	for _, list := range w.listers {
		keys, err := list(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
	}
	return all, nil
}

// addRunnables adds to the manager what runs beside the reconcilers:
//   - on every replica, once the caches have synced: drop from the state
//     the resources that are gone (after a restart of the manager), and
//     tell readiness which resources to wait for;
//   - on the leader, once elected: reconcile every resource again, so that
//     their status is written by the new leader.
func (w *wiring) addRunnables() error {
	w.state.setRetry(w.retry)
	synced := everyReplica(func(ctx context.Context) error {
		if !w.mgr.GetCache().WaitForCacheSync(ctx) {
			return nil // ctx ended
		}
		keys, err := w.listAll(ctx)
		if err != nil {
			return err
		}
		if err := w.state.prune(keys); err != nil {
			w.log.Error("resources deleted while the controllers were stopped could not be removed", "error", err)
		}
		w.ready.expect(keys)
		return nil
	})
	elected := manager.RunnableFunc(func(ctx context.Context) error {
		keys, err := w.listAll(ctx)
		if err != nil {
			return err
		}
		w.log.Info("writing the status of ratify's resources", "resources", len(keys))
		w.retry(ctx, keys)
		return nil
	})
	return errors.Join(w.mgr.Add(synced), w.mgr.Add(elected))
}

// everyReplica is a runnable that runs whether or not this replica is the
// leader.
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }

// NeedLeaderElection reports false: every replica runs it.
func (everyReplica) NeedLeaderElection() bool { return false }
