package k8s

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
)

// notationEntry is the config.json entry of a notation verifier as the
// reconciler makes it: the parameters with name and artifactTypes.
func notationEntry(name, certDir string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"artifactTypes":%q,"name":%q,"trustPolicyDoc":%s,"type":"notation","verificationCerts":[%q]}`,
		notationType, name, compact(trustPolicy), certDir))
}

func compact(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func verifier(t *testing.T, name, certDir string) *v1beta1.Verifier {
	return &v1beta1.Verifier{ObjectMeta: objMeta("", name), Spec: v1beta1.VerifierSpec{
		Name: name, Type: "notation", ArtifactTypes: notationType, Parameters: notationParams(t, certDir)}}
}

func namespacedVerifier(t *testing.T, ns, name, certDir string) *v1beta1.NamespacedVerifier {
	return &v1beta1.NamespacedVerifier{ObjectMeta: objMeta(ns, name), Spec: v1beta1.VerifierSpec{
		Name: name, Type: "notation", ArtifactTypes: notationType, Parameters: notationParams(t, certDir)}}
}

// TestOverlay checks the overlay made of cluster-wide and namespaced
// resources: cluster-wide ones replace config.json's sections, namespaced
// ones replace, in their namespace only, the sections of their kinds.
func TestOverlay(t *testing.T) {
	f := newFixture(t)
	f.apply(verifier(t, "verifier-b", f.certDir))
	f.apply(verifier(t, "verifier-a", f.certDir))
	f.apply(&v1beta1.Store{ObjectMeta: objMeta("", "store"), Spec: v1beta1.StoreSpec{
		Name: "oras", Parameters: raw(t, `{"useHttp":false,"cosignEnabled":true}`)}})
	f.apply(namespacedVerifier(t, "team-a", "team-a-notation", f.certDir))
	f.apply(&v1beta1.NamespacedPolicy{ObjectMeta: objMeta("team-b", "ratify-policy"), Spec: v1beta1.PolicySpec{
		Type: "config-policy", Parameters: raw(t, `{"artifactVerificationPolicies":{"default":"any"}}`)}})
	f.apply(&v1beta1.NamespacedStore{ObjectMeta: objMeta("team-b", "store"), Spec: v1beta1.StoreSpec{
		Type: "oras", Name: "team-b-store", Parameters: raw(t, `{"useHttp":true}`)}})

	want := server.Overlay{
		Cluster: config.Parts{DeferKeyReferences: true,
			Verifiers: []json.RawMessage{notationEntry("verifier-a", f.certDir), notationEntry("verifier-b", f.certDir)},
			Stores:    []json.RawMessage{json.RawMessage(`{"cosignEnabled":true,"name":"oras","useHttp":false}`)},
		},
		Namespaces: map[string]config.Parts{
			"team-a": {DeferKeyReferences: true, Verifiers: []json.RawMessage{notationEntry("team-a-notation", f.certDir)}},
			"team-b": {DeferKeyReferences: true,
				Stores: []json.RawMessage{json.RawMessage(`{"name":"oras","useHttp":true}`)},
				Policy: json.RawMessage(`{"artifactVerificationPolicies":{"default":"any"},"name":"configPolicy"}`),
			},
		},
	}
	if got, want := overlayJSON(t, f.state.overlay()), overlayJSON(t, want); got != want {
		t.Errorf("overlay\n%s\nwant\n%s", got, want)
	}
	if got, want := f.target.last(t), overlayJSON(t, want); got != want {
		t.Errorf("installed overlay\n%s\nwant\n%s", got, want)
	}
	// Each of the six accepted resources installed one overlay.
	if f.target.calls != 6 {
		t.Errorf("SetOverlay called %d times, want 6", f.target.calls)
	}
	// Reconciling an unchanged resource installs nothing.
	if err := f.reconcile(verifier(t, "verifier-a", f.certDir)); err != nil {
		t.Fatal(err)
	}
	if f.target.calls != 6 {
		t.Errorf("SetOverlay called %d times after an unchanged resource, want 6", f.target.calls)
	}
}

// TestDelete checks that deleting a resource removes it from the engine,
// and that deleting the last of a kind gives its section back to
// config.json.
func TestDelete(t *testing.T) {
	f := newFixture(t)
	a, b := verifier(t, "verifier-a", f.certDir), verifier(t, "verifier-b", f.certDir)
	nv := namespacedVerifier(t, "team-a", "team-a-notation", f.certDir)
	f.apply(a)
	f.apply(b)
	f.apply(nv)
	if err := f.remove(a); err != nil {
		t.Fatal(err)
	}
	want := server.Overlay{
		Cluster:    config.Parts{DeferKeyReferences: true, Verifiers: []json.RawMessage{notationEntry("verifier-b", f.certDir)}},
		Namespaces: map[string]config.Parts{"team-a": {DeferKeyReferences: true, Verifiers: []json.RawMessage{notationEntry("team-a-notation", f.certDir)}}},
	}
	if got, want := f.target.last(t), overlayJSON(t, want); got != want {
		t.Errorf("after deleting verifier-a\n%s\nwant\n%s", got, want)
	}
	if err := f.remove(b); err != nil {
		t.Fatal(err)
	}
	if err := f.remove(nv); err != nil {
		t.Fatal(err)
	}
	if got, want := f.target.last(t), overlayJSON(t, server.Overlay{Cluster: config.Parts{DeferKeyReferences: true}, Namespaces: map[string]config.Parts{}}); got != want {
		t.Errorf("after deleting everything\n%s\nwant\n%s", got, want)
	}
	calls := f.target.calls
	if err := f.reconcile(&v1beta1.Store{ObjectMeta: objMeta("", "never-accepted")}); err != nil {
		t.Fatal(err)
	}
	if f.target.calls != calls {
		t.Errorf("a deleted resource that was never accepted changed the overlay")
	}
}

// TestBadUpdateKeepsLastGood checks that a refused update leaves the
// previous version in the engine and says so.
func TestBadUpdateKeepsLastGood(t *testing.T) {
	f := newFixture(t)
	v := verifier(t, "verifier-a", f.certDir)
	f.apply(v)
	good := f.target.last(t)

	missing := filepath.Join(f.dir, "missing")
	bad := verifier(t, "verifier-a", missing)
	f.apply(bad)
	cause := fmt.Sprintf(`trust policy "default" names trust store "ca:certs", but verificationCerts [%q] provide no certificate for it`, missing)
	want := v1beta1.ResourceStatus{
		Error:      "verifier.plugins[0] (verifier-a): " + cause + ": invalid configuration" + keptNote,
		BriefError: shorten(cause),
	}
	if got := f.status(bad); got != want {
		t.Errorf("status =\n%#v\nwant\n%#v", got, want)
	}
	if got := f.target.last(t); got != good {
		t.Errorf("installed overlay changed to\n%s\nwant the good one\n%s", got, good)
	}
	if got, want := string(f.state.overlay().Cluster.Verifiers[0]), string(notationEntry("verifier-a", f.certDir)); got != want {
		t.Errorf("entry in the state = %s, want %s", got, want)
	}
	// Fixing it again is accepted.
	f.apply(verifier(t, "verifier-a", f.certDir))
	if got := f.status(v); got != (v1beta1.ResourceStatus{IsSuccess: true}) {
		t.Errorf("status after the fix = %#v", got)
	}
}

// TestSetOverlayFails checks that a resource the Target refuses is marked
// so, stays out of the state, and that the engine keeps its overlay.
func TestSetOverlayFails(t *testing.T) {
	f := newFixture(t)
	f.apply(verifier(t, "verifier-a", f.certDir))
	good := f.target.last(t)

	f.target.fail = fmt.Errorf("cluster configuration: refused by the test target: %w", errdef.ErrInvalidConfig)
	b := verifier(t, "verifier-b", f.certDir)
	f.apply(b)
	want := v1beta1.ResourceStatus{
		Error:      "not applied, ratify keeps serving its previous configuration: cluster configuration: refused by the test target: invalid configuration",
		BriefError: "not applied: cluster configuration: refused by the test target",
	}
	if got := f.status(b); got != want {
		t.Errorf("status =\n%#v\nwant\n%#v", got, want)
	}
	if f.state.has(key{sectionVerifier, "", "verifier-b"}) {
		t.Error("the refused verifier is in the state")
	}
	if got := overlayJSON(t, f.state.overlay()); got != good {
		t.Errorf("state overlay\n%s\nwant\n%s", got, good)
	}

	// A deletion the Target refuses is an error (controller-runtime
	// retries it); once the Target accepts, the retry removes it.
	err := f.remove(verifier(t, "verifier-a", f.certDir))
	if !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("deletion refused by the target: err = %v, want errdef.ErrInvalidConfig", err)
	}
	f.target.fail = nil
	if err := f.reconcile(verifier(t, "verifier-a", f.certDir)); err != nil {
		t.Fatal(err)
	}
	if got, want := f.target.last(t), overlayJSON(t, server.Overlay{Cluster: config.Parts{DeferKeyReferences: true}, Namespaces: map[string]config.Parts{}}); got != want {
		t.Errorf("after the retried deletion\n%s\nwant\n%s", got, want)
	}
	// The refused verifier-b is reconciled again after that change.
	if !slices.Contains(f.retried, key{sectionVerifier, "", "verifier-b"}) {
		t.Errorf("retried %v, want verifier-b among them", f.retried)
	}
}

// TestRefusedRetriedAfterConflictGoes checks a resource the real engine
// refuses because of another one (two stores) and its retry once the other
// is deleted.
func TestRefusedRetriedAfterConflictGoes(t *testing.T) {
	f := newFixture(t)
	first := &v1beta1.Store{ObjectMeta: objMeta("", "store-1"), Spec: v1beta1.StoreSpec{Name: "oras"}}
	second := &v1beta1.Store{ObjectMeta: objMeta("", "store-2"), Spec: v1beta1.StoreSpec{Name: "oras", Parameters: raw(t, `{"useHttp":true}`)}}
	f.apply(first)
	f.apply(second)
	want := v1beta1.ResourceStatus{
		Error:      "not applied, ratify keeps serving its previous configuration: cluster configuration: store.plugins: 2 stores configured; ratify reads from one registry store: invalid configuration",
		BriefError: "not applied: cluster configuration: store.plugins: 2 stores configured; ratify reads from one registry store",
	}
	if got := f.status(second); got != want {
		t.Errorf("status =\n%#v\nwant\n%#v", got, want)
	}
	if err := f.remove(first); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.retried, []key{{sectionStore, "", "store-2"}}) {
		t.Fatalf("retried %v, want store-2", f.retried)
	}
	if err := f.reconcile(second); err != nil {
		t.Fatal(err)
	}
	if got := f.status(second); got != (v1beta1.ResourceStatus{IsSuccess: true}) {
		t.Errorf("status after the retry = %#v", got)
	}
	if got, want := string(f.state.overlay().Cluster.Stores[0]), `{"name":"oras","useHttp":true}`; got != want {
		t.Errorf("store entry = %s, want %s", got, want)
	}
}

// TestOnlyLeaderWritesStatus checks that a replica that is not the leader
// configures its engine but leaves status alone.
func TestOnlyLeaderWritesStatus(t *testing.T) {
	f := newFixture(t)
	f.leader = make(chan struct{})
	v := verifier(t, "verifier-a", f.certDir)
	f.apply(v)
	if got := f.status(v); got != (v1beta1.ResourceStatus{}) {
		t.Errorf("a follower wrote status %#v", got)
	}
	if !f.state.has(key{sectionVerifier, "", "verifier-a"}) {
		t.Error("a follower did not configure its engine")
	}
	close(f.leader)
	if err := f.reconcile(v); err != nil {
		t.Fatal(err)
	}
	if got := f.status(v); got != (v1beta1.ResourceStatus{IsSuccess: true}) {
		t.Errorf("the leader wrote %#v", got)
	}
}

// TestPrune checks that entries of resources gone while no watch ran are
// removed.
func TestPrune(t *testing.T) {
	f := newFixture(t)
	f.apply(verifier(t, "verifier-a", f.certDir))
	f.apply(verifier(t, "verifier-b", f.certDir))
	if err := f.state.prune([]key{{sectionVerifier, "", "verifier-b"}}); err != nil {
		t.Fatal(err)
	}
	want := server.Overlay{Cluster: config.Parts{DeferKeyReferences: true, Verifiers: []json.RawMessage{notationEntry("verifier-b", f.certDir)}}, Namespaces: map[string]config.Parts{}}
	if got, want := f.target.last(t), overlayJSON(t, want); got != want {
		t.Errorf("after prune\n%s\nwant\n%s", got, want)
	}
}
