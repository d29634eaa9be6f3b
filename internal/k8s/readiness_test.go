package k8s

import "testing"

func isReady(r *readiness) bool {
	select {
	case <-r.ready():
		return true
	default:
		return false
	}
}

// TestReadiness checks that readiness waits for the resources listed at
// start, counting those reconciled before the list was known.
func TestReadiness(t *testing.T) {
	a, b, c := key{sectionVerifier, "", "a"}, key{sectionStore, "ns", "b"}, key{sectionKeys, "", "c"}
	r := newReadiness()
	r.reconciled(a) // before the list: remembered
	if isReady(r) {
		t.Fatal("ready before the list of resources was known")
	}
	r.expect([]key{a, b, c})
	if isReady(r) {
		t.Fatal("ready with b and c not reconciled")
	}
	r.reconciled(b)
	r.reconciled(b)
	if isReady(r) {
		t.Fatal("ready with c not reconciled")
	}
	r.reconciled(c)
	if !isReady(r) {
		t.Fatal("not ready after every resource was reconciled")
	}
	r.reconciled(a) // after: no effect, no panic
	r.expect([]key{a})

	empty := newReadiness()
	empty.expect(nil)
	if !isReady(empty) {
		t.Fatal("not ready with no resources")
	}
}
