package gatekeeper

import (
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestLibraryProviders: library/provider.yaml holds the two Providers
// Ratify v1's installation defines, reaching ratify's Service, with the
// production timeouts and a caBundle placeholder that, once replaced with a
// CA certificate as library/README.md says, Gatekeeper's provider cache
// accepts.
func TestLibraryProviders(t *testing.T) {
	caBundle := newTLSMaterial(t).CABundle(t)
	for _, tc := range []struct {
		name, path string
		timeout    int
	}{
		{"ratify-provider", "/ratify/gatekeeper/v1/verify", 10},
		{"ratify-mutation-provider", "/ratify/gatekeeper/v1/mutate", 2},
	} {
		p := loadProvider(t, tc.name)
		if want := "https://ratify.gatekeeper-system:6001" + tc.path; p.Spec.URL != want || p.Spec.Timeout != tc.timeout {
			t.Errorf("%s: url %q, timeout %d; want %q, %d", tc.name, p.Spec.URL, p.Spec.Timeout, want, tc.timeout)
		}
		if p.Spec.CABundle != "${RATIFY_CA_BUNDLE}" {
			t.Errorf("%s: caBundle %q; want the placeholder ${RATIFY_CA_BUNDLE}", tc.name, p.Spec.CABundle)
		}
		if err := externaldata.NewCache().Upsert(p); err == nil {
			t.Errorf("%s: Gatekeeper accepts the placeholder caBundle", tc.name)
		}
		p.Spec.CABundle = caBundle
		if err := externaldata.NewCache().Upsert(p); err != nil {
			t.Errorf("%s with a CA: %v", tc.name, err)
		}
	}
	if n := len(loadObjects(t, "provider.yaml")); n != 2 {
		t.Errorf("provider.yaml holds %d objects, want 2", n)
	}
}

// TestLibraryConstraint: the sample constraint is ratify-constraint, a
// RatifyVerification that denies, on Pods, outside kube-system and
// gatekeeper-system.
func TestLibraryConstraint(t *testing.T) {
	objs := loadObjects(t, "default/samples/constraint.yaml")
	c := objs[0]
	if len(objs) != 1 || c.GetAPIVersion() != "constraints.gatekeeper.sh/v1beta1" || c.GetKind() != "RatifyVerification" ||
		c.GetName() != "ratify-constraint" {
		t.Fatalf("constraint.yaml: %d objects, first %s %s %s", len(objs), c.GetAPIVersion(), c.GetKind(), c.GetName())
	}
	if action, _, _ := unstructured.NestedString(c.Object, "spec", "enforcementAction"); action != "deny" {
		t.Errorf("enforcementAction %q, want deny", action)
	}
	kinds, _, _ := unstructured.NestedSlice(c.Object, "spec", "match", "kinds")
	if want := []any{map[string]any{"apiGroups": []any{""}, "kinds": []any{"Pod"}}}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("match.kinds %v, want %v", kinds, want)
	}
	excluded, _, _ := unstructured.NestedStringSlice(c.Object, "spec", "match", "excludedNamespaces")
	if strings.Join(excluded, ",") != "kube-system,gatekeeper-system" {
		t.Errorf("match.excludedNamespaces %q, want kube-system and gatekeeper-system", excluded)
	}
}
