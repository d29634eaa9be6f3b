package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	"github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/unversioned"
	edv1beta1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/v1beta1"
	templatesv1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/templates/v1"
	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// libraryFiles are the files of library/ the chart keeps a copy of.
var libraryFiles = []string{
	"default/template.yaml",
	"multi-tenancy/template.yaml",
	"default/samples/constraint.yaml",
	"mutation/assign-image-digest.yaml",
}

// TestLibraryCopies: the chart's copies of library/ are byte-identical to
// it, so the chart installs the Rego that test/gatekeeper runs.
func TestLibraryCopies(t *testing.T) {
	for _, f := range libraryFiles {
		want, err := os.ReadFile(filepath.Join(moduleRoot(), "library", f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir(), "library", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/ratify/library/%s differs from library/%s: copy it again", f, f)
		}
	}
}

// libraryObject returns the one object of a library/ file.
func libraryObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot(), "library", path))
	if err != nil {
		t.Fatal(err)
	}
	m := parseManifest(t, string(data))
	if len(m) != 1 {
		t.Fatalf("library/%s holds %d objects", path, len(m))
	}
	return m[0]
}

// templateRego returns the Rego of a ConstraintTemplate, after checking that it is
// a templates.gatekeeper.sh/v1 ConstraintTemplate with no unknown field.
func templateRego(t *testing.T, obj *unstructured.Unstructured) string {
	t.Helper()
	var ct templatesv1.ConstraintTemplate
	decode(t, obj, &ct)
	if obj.GetAPIVersion() != "templates.gatekeeper.sh/v1" || len(ct.Spec.Targets) != 1 ||
		ct.Spec.Targets[0].Target != "admission.k8s.gatekeeper.sh" || ct.Spec.CRD.Spec.Names.Kind != "RatifyVerification" {
		t.Fatalf("ConstraintTemplate %s: %+v", obj.GetName(), ct.Spec)
	}
	return ct.Spec.Targets[0].Rego
}

// TestConstraintTemplate: the chart installs library's RatifyVerification,
// the multi-tenancy one when asked, or none.
func TestConstraintTemplate(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		library string
	}{
		{nil, "default/template.yaml"},
		{[]string{"--set", "gatekeeper.constraintTemplate.multiTenancy=true"}, "multi-tenancy/template.yaml"},
		{[]string{"--set", "gatekeeper.constraintTemplate.enabled=false"}, ""},
	} {
		m := render(t, tc.args...)
		if tc.library == "" {
			if names := m.ofKind("ConstraintTemplate"); len(names) != 0 {
				t.Errorf("%v: rendered ConstraintTemplates %v", tc.args, names)
			}
			continue
		}
		got := templateRego(t, m.find(t, "ConstraintTemplate", "ratifyverification"))
		if want := templateRego(t, libraryObject(t, tc.library)); got != want {
			t.Errorf("%v: the rendered Rego differs from library/%s", tc.args, tc.library)
		}
	}
}

// TestConstraint: ratify-constraint is library's, excluding ratify's own
// namespace too; a post-install hook while its kind does not exist yet (so
// that Helm creates it after the template), an ordinary resource once it
// does, with Helm's ownership metadata either way so that the upgrade adopts
// it.
func TestConstraint(t *testing.T) {
	want := libraryObject(t, "default/samples/constraint.yaml")
	for _, tc := range []struct {
		args     []string
		hook     bool
		excluded []string
	}{
		{nil, true, []string{"kube-system", "gatekeeper-system"}},
		{[]string{"--api-versions", "constraints.gatekeeper.sh/v1beta1/RatifyVerification"}, false, []string{"kube-system", "gatekeeper-system"}},
		{[]string{"--namespace", "ratify-system", "--set", "provider.clientAuth.enabled=false"}, true, []string{"kube-system", "gatekeeper-system", "ratify-system"}},
	} {
		m := render(t, tc.args...)
		c := m.find(t, "RatifyVerification", "ratify-constraint")
		excluded, _, _ := unstructured.NestedStringSlice(c.Object, "spec", "match", "excludedNamespaces")
		wantSpec := runtime.DeepCopyJSONValue(want.Object["spec"]).(map[string]any)
		if err := unstructured.SetNestedStringSlice(wantSpec, tc.excluded, "match", "excludedNamespaces"); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(excluded, tc.excluded) || !reflect.DeepEqual(c.Object["spec"], wantSpec) || c.GetAPIVersion() != want.GetAPIVersion() {
			t.Errorf("%v: spec %v\nwant %v", tc.args, c.Object["spec"], wantSpec)
		}
		a := c.GetAnnotations()
		ns := tc.excluded[len(tc.excluded)-1]
		if a["meta.helm.sh/release-name"] != "ratify" || a["meta.helm.sh/release-namespace"] != ns || c.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%v: ownership metadata %v %v", tc.args, a, c.GetLabels())
		}
		if hook := a["helm.sh/hook"]; (hook == "post-install,post-upgrade") != tc.hook || (!tc.hook && hook != "") {
			t.Errorf("%v: helm.sh/hook %q, want a post-install hook: %v", tc.args, hook, tc.hook)
		}
	}
	if m := render(t, "--set", "gatekeeper.constraint.enabled=false"); len(m.ofKind("RatifyVerification")) != 0 {
		t.Error("gatekeeper.constraint.enabled=false still renders the constraint")
	}
}

// TestMutation: provider.enableMutation (default true, as in Ratify v1)
// renders library's three Assigns, excluding ratify's namespace; false
// renders none.
func TestMutation(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(), "library", "mutation", "assign-image-digest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	lib := parseManifest(t, string(data))
	m := render(t, "--namespace", "ratify-system", "--set", "provider.clientAuth.enabled=false")
	if got := m.ofKind("Assign"); len(got) != len(lib) {
		t.Fatalf("Assigns %v, want library's %d", got, len(lib))
	}
	for _, want := range lib {
		got := m.find(t, "Assign", want.GetName())
		wantSpec := runtime.DeepCopyJSONValue(want.Object["spec"]).(map[string]any)
		excluded, _, _ := unstructured.NestedStringSlice(wantSpec, "match", "excludedNamespaces")
		_ = unstructured.SetNestedStringSlice(wantSpec, append(excluded, "ratify-system"), "match", "excludedNamespaces")
		if !reflect.DeepEqual(got.Object["spec"], wantSpec) || got.GetAPIVersion() != "mutations.gatekeeper.sh/v1" {
			t.Errorf("Assign %s: spec %v\nwant %v", want.GetName(), got.Object["spec"], wantSpec)
		}
	}
	if got := render(t, "--set", "provider.enableMutation=false").ofKind("Assign"); len(got) != 0 {
		t.Errorf("provider.enableMutation=false renders Assigns %v", got)
	}
}

// provider converts a rendered Provider as Gatekeeper's controller does,
// refusing unknown fields.
func provider(t *testing.T, m manifest, name string) *unversioned.Provider {
	t.Helper()
	var v1beta1 edv1beta1.Provider
	decode(t, m.find(t, "Provider", name), &v1beta1)
	s := runtime.NewScheme()
	if err := apis.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	var p unversioned.Provider
	if err := s.Convert(&v1beta1, &p, nil); err != nil {
		t.Fatal(err)
	}
	return &p
}

// checkProviders checks the two Providers' URLs and timeouts, and that
// Gatekeeper's provider cache accepts them (it refuses an https Provider
// whose caBundle is not a CA certificate).
func checkProviders(t *testing.T, m manifest, host string, verifyTimeout, mutateTimeout int) (caBundle string) {
	t.Helper()
	for _, tc := range []struct {
		name, path string
		timeout    int
	}{{"ratify-provider", "verify", verifyTimeout}, {"ratify-mutation-provider", "mutate", mutateTimeout}} {
		p := provider(t, m, tc.name)
		if want := "https://" + host + ":6001/ratify/gatekeeper/v1/" + tc.path; p.Spec.URL != want || p.Spec.Timeout != tc.timeout {
			t.Errorf("%s: url %q timeout %d, want %q %d", tc.name, p.Spec.URL, p.Spec.Timeout, want, tc.timeout)
		}
		if err := externaldata.NewCache().Upsert(p); err != nil {
			t.Errorf("%s: Gatekeeper refuses it: %v", tc.name, err)
		}
		if caBundle != "" && p.Spec.CABundle != caBundle {
			t.Errorf("the Providers trust different CAs")
		}
		caBundle = p.Spec.CABundle
	}
	return caBundle
}
