package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// conflictRetry is how soon a resource whose status write conflicted is
// reconciled again.
const conflictRetry = 200 * time.Millisecond

// reconciler is the one reconciler of every kind, cluster-wide and
// namespaced: it judges a resource on its own, puts an accepted one into
// the shared state (which installs the new overlay), and reports the
// outcome in the resource's status.
//
// Every replica runs it, so that each builds its own engine; only the
// replica holding the leader lease writes status.
type reconciler[O client.Object] struct {
	client   client.Client
	kind     kind[O]
	state    *state
	validate *validator
	// leader is closed once this replica may write status.
	leader <-chan struct{}
	log    *slog.Logger
	now    func() time.Time
	// seen, when set, is told of every resource reconciled (readiness).
	seen func(key)
}

// Reconcile brings the engine and the status of one resource in line with
// the resource (controller-runtime's reconcile.Reconciler).
func (r *reconciler[O]) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	k := key{section: r.kind.section, namespace: req.Namespace, name: req.Name}
	if r.seen != nil {
		defer r.seen(k)
	}
	obj := r.kind.newObject()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, r.remove(ctx, k)
		}
		return reconcile.Result{}, fmt.Errorf("get %s %s: %w", r.kind.name, req.NamespacedName, err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return reconcile.Result{}, r.remove(ctx, k)
	}
	out := r.kind.evaluate(obj, r.validate)
	applied := false
	if out.err == nil {
		if err := r.state.apply(ctx, k, out.entry); err != nil {
			out = outcome{
				err:   fmt.Errorf("not applied, ratify keeps serving its previous configuration: %w", err),
				brief: shorten("not applied: " + brief(err)),
			}
		} else {
			applied = true
		}
	}
	var requeue time.Duration
	if applied && r.kind.section == sectionKeys {
		out = fetchedOutcome(ctx, r.state.target, keyProviderName(k.namespace, k.name), r.now())
		requeue = r.kind.requeue(obj)
	}
	kept := out.err != nil && !applied && r.state.has(k)
	log := r.log.With("kind", r.kind.name, "namespace", req.Namespace, "name", req.Name)
	switch {
	case applied && out.err != nil:
		log.Warn("key management provider accepted, but its material could not be fetched", "error", out.err)
	case out.err != nil:
		log.Warn("resource refused", "error", out.err, "previousVersionInUse", kept)
	default:
		log.Info("resource accepted")
	}
	err := r.writeStatus(ctx, obj, newStatus(out, kept, r.now()))
	if apierrors.IsConflict(err) {
		// The cache had not seen our previous write yet: read it again soon.
		log.Debug("status write conflicted; retrying", "error", err)
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	return reconcile.Result{RequeueAfter: requeue}, err
}

// remove takes a deleted resource out of the engine. If the configuration
// without it does not build, the error makes controller-runtime retry.
func (r *reconciler[O]) remove(ctx context.Context, k key) error {
	if !r.state.has(k) && !r.state.isStale() {
		return nil
	}
	if err := r.state.apply(ctx, k, nil); err != nil {
		return fmt.Errorf("%s %s/%s deleted, but the configuration without it does not build: %w", r.kind.name, k.namespace, k.name, err)
	}
	r.log.Info("resource deleted; removed from the configuration", "kind", r.kind.name, "namespace", k.namespace, "name", k.name)
	return nil
}

// writeStatus writes st into obj's status when this replica is the leader
// and the status changed.
func (r *reconciler[O]) writeStatus(ctx context.Context, obj O, st status) error {
	select {
	case <-r.leader:
	default:
		return nil
	}
	if !r.kind.setStatus(obj, st) {
		return nil
	}
	// The whole status is written (a merge patch would leave out an
	// issuccess that stays false, which the schema requires), against the
	// resourceVersion read: a conflict makes controller-runtime retry.
	if err := r.client.Status().Update(ctx, obj); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("status of %s %s/%s: %w", r.kind.name, obj.GetNamespace(), obj.GetName(), err))
	}
	return nil
}
