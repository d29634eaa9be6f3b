package k8s

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/keys"
)

// trustPolicy is a Notary Project trust policy document trusting the
// "certs" CA store for every registry.
const trustPolicy = `{"version":"1.0","trustPolicies":[{"name":"default","registryScopes":["*"],
  "signatureVerification":{"level":"strict"},"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}`

// baseConfig is the config.json the resources are composed into.
const baseConfig = `{
  "store": {"version": "1.0.0", "plugins": [{"name": "oras", "useHttp": true}]},
  "policy": {"version": "1.0.0", "plugin": {"name": "configPolicy", "artifactVerificationPolicies": {"default": "all"}}},
  "verifier": {"version": "1.0.0", "plugins": [{"name": "notation", "artifactTypes": "application/vnd.cncf.notary.signature",
    "verificationCerts": ["certs"], "trustPolicyDoc": ` + trustPolicy + `}]},
  "crl": {"cache": {"enabled": false}}
}`

// fixture is config.json on disk with a CA certificate, the real provider
// built from it behind a recording Target, and a fake API server holding
// the resources.
type fixture struct {
	t       *testing.T
	dir     string // config.json's directory; certs/ holds the CA
	certDir string
	caPEM   string
	base    *config.Config
	target  *recordingTarget
	client  client.Client
	state   *state
	leader  chan struct{} // closed: this replica writes status
	now     time.Time
	retried []key // what the state asked to reconcile again
	mu      sync.Mutex
}

func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	ca, err := testpki.NewRootCA(testpki.CertOptions{
		Subject:   pkix.Name{CommonName: "Ratify Test Root CA", Organization: []string{"Ratify Test"}},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := testpki.WritePEM(filepath.Join(certDir, "ca.pem"), ca.Cert); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(baseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	base, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{ConfigPath: path, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := v1beta1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		t: t, dir: dir, certDir: certDir, caPEM: string(testpki.EncodePEM(ca.Cert)), base: base,
		target: &recordingTarget{inner: srv},
		client: fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(
			&v1beta1.Verifier{}, &v1beta1.NamespacedVerifier{}, &v1beta1.Store{}, &v1beta1.NamespacedStore{},
			&v1beta1.Policy{}, &v1beta1.NamespacedPolicy{},
			&v1beta1.KeyManagementProvider{}, &v1beta1.NamespacedKeyManagementProvider{}).Build(),
		leader: make(chan struct{}),
		now:    time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
	}
	close(f.leader)
	f.state = newState(f.target)
	f.state.setRetry(func(_ context.Context, keys []key) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.retried = append(f.retried, keys...)
	})
	return f
}

// reconcile runs the reconciler of obj's kind on obj's name.
func (f *fixture) reconcile(obj client.Object) error {
	f.t.Helper()
	switch obj.(type) {
	case *v1beta1.Verifier:
		return reconcileKind(f, kindVerifier(), obj)
	case *v1beta1.NamespacedVerifier:
		return reconcileKind(f, kindNamespacedVerifier(), obj)
	case *v1beta1.Store:
		return reconcileKind(f, kindStore(), obj)
	case *v1beta1.NamespacedStore:
		return reconcileKind(f, kindNamespacedStore(), obj)
	case *v1beta1.Policy:
		return reconcileKind(f, kindPolicy(), obj)
	case *v1beta1.NamespacedPolicy:
		return reconcileKind(f, kindNamespacedPolicy(), obj)
	case *v1beta1.KeyManagementProvider:
		return reconcileKind(f, kindKeyManagementProvider(), obj)
	case *v1beta1.NamespacedKeyManagementProvider:
		return reconcileKind(f, kindNamespacedKeyManagementProvider(), obj)
	}
	f.t.Fatalf("no kind for %T", obj)
	return nil
}

func reconcileKind[O client.Object](f *fixture, k kind[O], obj client.Object) error {
	r := &reconciler[O]{
		client: f.client, kind: k, state: f.state,
		validate: &validator{base: f.base},
		leader:   f.leader, log: discard(), now: func() time.Time { return f.now },
	}
	_, err := r.Reconcile(context.Background(), reconcile.Request{
		NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()},
	})
	return err
}

// apply creates obj in the fake API server (or updates its spec) and
// reconciles it; the reconcile must not fail.
func (f *fixture) apply(obj client.Object) {
	f.t.Helper()
	ctx := context.Background()
	cur := obj.DeepCopyObject().(client.Object)
	err := f.client.Get(ctx, client.ObjectKeyFromObject(obj), cur)
	switch {
	case err == nil:
		obj.SetResourceVersion(cur.GetResourceVersion())
		err = f.client.Update(ctx, obj)
	default:
		err = f.client.Create(ctx, obj)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.reconcile(obj); err != nil {
		f.t.Fatalf("reconcile %s: %v", obj.GetName(), err)
	}
}

// remove deletes obj and reconciles the deletion.
func (f *fixture) remove(obj client.Object) error {
	f.t.Helper()
	if err := f.client.Delete(context.Background(), obj); err != nil {
		f.t.Fatal(err)
	}
	return f.reconcile(obj)
}

// status returns the status of obj as stored in the API server.
func (f *fixture) status(obj client.Object) v1beta1.ResourceStatus {
	f.t.Helper()
	cur := obj.DeepCopyObject().(client.Object)
	if err := f.client.Get(context.Background(), client.ObjectKeyFromObject(obj), cur); err != nil {
		f.t.Fatal(err)
	}
	switch o := cur.(type) {
	case *v1beta1.Verifier:
		return o.Status
	case *v1beta1.NamespacedVerifier:
		return o.Status
	case *v1beta1.Store:
		return o.Status
	case *v1beta1.NamespacedStore:
		return o.Status
	case *v1beta1.Policy:
		return o.Status
	case *v1beta1.NamespacedPolicy:
		return o.Status
	}
	f.t.Fatalf("no resource status in %T", cur)
	return v1beta1.ResourceStatus{}
}

// keysStatus returns the status of a key management provider.
func (f *fixture) keysStatus(obj client.Object) v1beta1.KeyManagementProviderStatus {
	f.t.Helper()
	cur := obj.DeepCopyObject().(client.Object)
	if err := f.client.Get(context.Background(), client.ObjectKeyFromObject(obj), cur); err != nil {
		f.t.Fatal(err)
	}
	switch o := cur.(type) {
	case *v1beta1.KeyManagementProvider:
		return o.Status
	case *v1beta1.NamespacedKeyManagementProvider:
		return o.Status
	}
	f.t.Fatalf("no key management provider status in %T", cur)
	return v1beta1.KeyManagementProviderStatus{}
}

// recordingTarget passes overlays to the real provider, recording those
// it installed; fail, when set, refuses them instead.
type recordingTarget struct {
	inner     *server.Server
	mu        sync.Mutex
	installed []server.Overlay
	calls     int
	fail      error
}

func (r *recordingTarget) SetOverlay(o server.Overlay) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		return r.fail
	}
	if err := r.inner.SetOverlay(o); err != nil {
		return err
	}
	r.installed = append(r.installed, o)
	return nil
}

func (r *recordingTarget) KeyProviderStatus(ctx context.Context, name string) (keys.Status, bool) {
	return r.inner.KeyProviderStatus(ctx, name)
}

// last returns the overlay installed last, as JSON.
func (r *recordingTarget) last(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.installed) == 0 {
		return "none"
	}
	return overlayJSON(t, r.installed[len(r.installed)-1])
}

func overlayJSON(t *testing.T, o server.Overlay) string {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// raw returns a RawExtension holding the JSON s (compacted).
func raw(t *testing.T, s string) runtime.RawExtension {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %s: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return runtime.RawExtension{Raw: b}
}

// notationParams are the parameters of a notation verifier trusting certDir.
func notationParams(t *testing.T, certDir string) runtime.RawExtension {
	return raw(t, fmt.Sprintf(`{"verificationCerts":[%q],"trustPolicyDoc":%s}`, certDir, trustPolicy))
}

func objMeta(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
