package chart

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifest is the objects helm rendered, in order.
type manifest []*unstructured.Unstructured

// parseManifest splits helm's output into objects, refusing documents that
// are not objects with an apiVersion, a kind and a name.
func parseManifest(t testing.TB, out string) manifest {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var m manifest
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if obj == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			t.Fatalf("rendered a document that is not a named object: %v", obj)
		}
		m = append(m, u)
	}
	return m
}

// find returns the object of kind and name, failing t if there is not
// exactly one.
func (m manifest) find(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range m {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s %q rendered, want 1 (rendered: %s)", len(found), kind, name, m.names())
	}
	return found[0]
}

// has reports whether an object of kind and name was rendered.
func (m manifest) has(kind, name string) bool {
	for _, o := range m {
		if o.GetKind() == kind && o.GetName() == name {
			return true
		}
	}
	return false
}

// ofKind returns the names of the objects of kind, in order.
func (m manifest) ofKind(kind string) []string {
	var names []string
	for _, o := range m {
		if o.GetKind() == kind {
			names = append(names, o.GetName())
		}
	}
	return names
}

func (m manifest) names() string {
	var s []string
	for _, o := range m {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(s, " ")
}

// decode converts obj into the typed object into, refusing fields the type
// does not have (as the API server's strict field validation does).
func decode(t testing.TB, obj *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// str returns the string at fields of obj ("" when absent).
func str(obj *unstructured.Unstructured, fields ...string) string {
	s, _, _ := unstructured.NestedString(obj.Object, fields...)
	return s
}

// setArgs reads a testdata/*.set file: the helm flags of an install guide,
// one "--set key=value" or "--set-file key=path" per line, as the shell
// passes them to helm (quotes removed). Lines starting with # are comments;
// $NAME and ${NAME} are replaced with vars[NAME] (an unknown name fails t).
func setArgs(t testing.TB, name string, vars map[string]string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var args []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		flag, value, ok := strings.Cut(line, " ")
		if !ok || (flag != "--set" && flag != "--set-file") {
			t.Fatalf("%s: %q is not --set or --set-file KEY=VALUE", name, line)
		}
		value = os.Expand(value, func(v string) string {
			s, ok := vars[v]
			if !ok {
				t.Fatalf("%s: no value for $%s", name, v)
			}
			return s
		})
		args = append(args, flag, value)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return args
}
