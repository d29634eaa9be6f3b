package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/internal/testcluster"
)

// deadline bounds every wait on the real API server; a wait ends as soon
// as its condition holds.
const deadline = 2 * time.Minute

// TestAgainstAPIServer runs Run against a real kube-apiserver and etcd
// (envtest) with the generated CRDs: statuses are written through the
// status subresource, the printer columns show them, the provider gets
// the overlay and becomes ready only after the existing resources were
// read, and the leader Lease is held in ratify's namespace.
func TestAgainstAPIServer(t *testing.T) {
	bins, err := testcluster.FindBinaries() // builds them (tools/k8s/build.sh, as `make k8s-bins`) when missing
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{v1beta1.AddToScheme, corev1.AddToScheme, coordinationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	env := &envtest.Environment{
		Scheme:                   scheme,
		BinaryAssetsDirectory:    bins.Dir,
		CRDDirectoryPaths:        []string{filepath.Join("..", "..", "charts", "ratify", "crds")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: deadline,
		ControlPlaneStopTimeout:  deadline,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := newFixture(t)
	for _, ns := range []string{"gatekeeper-system", "team-a"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	// Resources that exist before ratify starts: ready waits for them.
	good := verifier(t, "verifier-a", f.certDir)
	bad := verifier(t, "verifier-bad", filepath.Join(f.dir, "missing"))
	nv := namespacedVerifier(t, "team-a", "team-a-notation", f.certDir)
	kmp := &v1beta1.KeyManagementProvider{ObjectMeta: objMeta("", "kmp-inline"), Spec: v1beta1.KeyManagementProviderSpec{
		Type: "inline", Parameters: raw(t, fmt.Sprintf(`{"contentType":"certificate","value":%q}`, f.caPEM))}}
	for _, obj := range []client.Object{good, bad, nv, kmp} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	logs := &testLogs{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ratify's logs:\n%s", logs.String())
		}
	})
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Config: cfg, Target: f.target, Base: f.base, Logger: logs.logger(),
			Namespace: "gatekeeper-system", LeaderElect: true,
			OnReady: func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(deadline):
		t.Fatal("not ready after", deadline)
	}
	// Ready means both verifiers are in the installed overlay.
	installed := f.target.last(t)
	for _, name := range []string{`"name":"verifier-a"`, `"name":"team-a-notation"`} {
		if !strings.Contains(installed, name) {
			t.Errorf("ready, but the installed overlay lacks %s:\n%s", name, installed)
		}
	}
	if strings.Contains(installed, "verifier-bad") {
		t.Errorf("the refused verifier is in the installed overlay:\n%s", installed)
	}

	// Status, through the printer columns (the Table kubectl shows).
	waitFor(t, "printer columns of verifiers", func() error {
		return checkTable(cfg, "verifiers", []string{"Name", "IsSuccess", "Error"}, map[string][]any{
			"verifier-a":   {"verifier-a", true, nil},
			"verifier-bad": {"verifier-bad", false, brief(errors.New(f.statusErrorOf(t, c, bad)))},
		})
	})
	waitFor(t, "printer columns of key management providers", func() error {
		table, err := getTable(cfg, "keymanagementproviders")
		if err != nil {
			return err
		}
		if err := columns(table, "Name", "IsSuccess", "Error", "LastFetchedTime"); err != nil {
			return err
		}
		if len(table.Rows) != 1 || table.Rows[0].Cells[1] != true || table.Rows[0].Cells[3] == nil {
			return fmt.Errorf("rows %v, want kmp-inline succeeded with a LastFetchedTime", table.Rows)
		}
		return nil
	})
	waitFor(t, "namespaced verifier status", func() error {
		var got v1beta1.NamespacedVerifier
		if err := c.Get(ctx, client.ObjectKeyFromObject(nv), &got); err != nil {
			return err
		}
		if !got.Status.IsSuccess {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})

	// Status is a subresource: an update of the resource does not change
	// it, and writing it does not change the generation.
	var cur v1beta1.Verifier
	if err := c.Get(ctx, client.ObjectKeyFromObject(good), &cur); err != nil {
		t.Fatal(err)
	}
	if cur.Generation != 1 {
		t.Errorf("generation %d after status writes, want 1", cur.Generation)
	}
	cur.Status = v1beta1.ResourceStatus{Error: "forged"}
	if err := c.Update(ctx, &cur); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(good), &cur); err != nil {
		t.Fatal(err)
	}
	if cur.Status != (v1beta1.ResourceStatus{IsSuccess: true}) {
		t.Errorf("an update of the resource changed its status to %+v", cur.Status)
	}

	// The leader Lease is in ratify's namespace.
	var lease coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: "gatekeeper-system", Name: LeaseName}, &lease); err != nil {
		t.Fatalf("leader Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("Lease without a holder: %+v", lease.Spec)
	}

	// A deletion reaches the engine.
	if err := c.Delete(ctx, nv); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the namespaced verifier to leave the overlay", func() error {
		if got := f.target.last(t); strings.Contains(got, "team-a-notation") {
			return fmt.Errorf("still installed: %s", got)
		}
		return nil
	})

	// A store refused because of another (ratify reads from one store) is
	// retried, through its controller's queue, once the other is gone.
	first := &v1beta1.Store{ObjectMeta: objMeta("", "store-1"), Spec: v1beta1.StoreSpec{Name: "oras"}}
	second := &v1beta1.Store{ObjectMeta: objMeta("", "store-2"), Spec: v1beta1.StoreSpec{Name: "oras", Parameters: raw(t, `{"useHttp":true}`)}}
	storeStatus := func(s *v1beta1.Store) func() (v1beta1.ResourceStatus, error) {
		return func() (v1beta1.ResourceStatus, error) {
			var got v1beta1.Store
			err := c.Get(ctx, client.ObjectKeyFromObject(s), &got)
			return got.Status, err
		}
	}
	if err := c.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, "store-1", storeStatus(first), v1beta1.ResourceStatus{IsSuccess: true})
	if err := c.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, "store-2 refused", storeStatus(second), v1beta1.ResourceStatus{
		Error:      "not applied, ratify keeps serving its previous configuration: cluster configuration: store.plugins: 2 stores configured; ratify reads from one registry store: invalid configuration",
		BriefError: "not applied: cluster configuration: store.plugins: 2 stores configured; ratify reads from one registry store",
	})
	if err := c.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, "store-2 accepted", storeStatus(second), v1beta1.ResourceStatus{IsSuccess: true})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(deadline):
		t.Error("Run did not return after its context ended")
	}
}

// statusErrorOf waits for obj's status error and returns it.
func (f *fixture) statusErrorOf(t *testing.T, c client.Client, obj *v1beta1.Verifier) string {
	t.Helper()
	var msg string
	waitFor(t, "status of "+obj.Name, func() error {
		var got v1beta1.Verifier
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), &got); err != nil {
			return err
		}
		if got.Status.Error == "" {
			return errors.New("no error in the status yet")
		}
		msg = got.Status.Error
		return nil
	})
	if want := fmt.Sprintf("verifier.plugins[0] (verifier-bad): trust policy \"default\" names trust store \"ca:certs\", but verificationCerts [%q] provide no certificate for it: invalid configuration",
		filepath.Join(f.dir, "missing")); msg != want {
		t.Errorf("status error %q, want %q", msg, want)
	}
	return strings.TrimSuffix(msg, ": invalid configuration")
}

// waitStatus waits until get returns want.
func waitStatus(t *testing.T, what string, get func() (v1beta1.ResourceStatus, error), want v1beta1.ResourceStatus) {
	t.Helper()
	waitFor(t, what, func() error {
		got, err := get()
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("status %+v, want %+v", got, want)
		}
		return nil
	})
}

// waitFor polls check until it returns nil, failing the test at the deadline.
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// getTable lists a cluster-scoped resource of config.ratify.deislabs.io
// as the Table kubectl prints.
func getTable(cfg *rest.Config, resource string) (*metav1.Table, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, base.JoinPath("apis", v1beta1.Group, v1beta1.Version, resource).String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var table metav1.Table
	return &table, json.Unmarshal(body, &table)
}

func columns(table *metav1.Table, want ...string) error {
	var got []string
	for _, c := range table.ColumnDefinitions {
		got = append(got, c.Name)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("columns %v, want %v", got, want)
	}
	return nil
}

// checkTable checks the columns and the cells of each named row.
func checkTable(cfg *rest.Config, resource string, cols []string, rows map[string][]any) error {
	table, err := getTable(cfg, resource)
	if err != nil {
		return err
	}
	if err := columns(table, cols...); err != nil {
		return err
	}
	if len(table.Rows) != len(rows) {
		return fmt.Errorf("%d rows, want %d", len(table.Rows), len(rows))
	}
	for _, row := range table.Rows {
		name, _ := row.Cells[0].(string)
		want, ok := rows[name]
		if !ok {
			return fmt.Errorf("unexpected row %v", row.Cells)
		}
		if fmt.Sprint(row.Cells) != fmt.Sprint(want) {
			return fmt.Errorf("row %v, want %v", row.Cells, want)
		}
	}
	return nil
}

// testLogs keeps the logs of Run, to show when the test fails.
type testLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *testLogs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
