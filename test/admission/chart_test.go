package admission

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/openratify/ratify/internal/testcluster"
	"github.com/openratify/ratify/internal/testratify"
)

// releaseNamespace is where Ratify's install guide installs the chart:
// Gatekeeper's namespace.
const releaseNamespace = "gatekeeper-system"

// podCertsDir is where the chart mounts the notationCerts Secret in
// ratify's pod; verifiers and config.json name it.
const podCertsDir = "/usr/local/ratify-certs/notation"

// object is one Kubernetes object of a rendered chart.
type object map[string]any

func (o object) kind() string { return o.str("kind") }
func (o object) name() string { return o.str("metadata", "name") }

// str returns the string at path, or "".
func (o object) str(path ...string) string {
	s, _ := o.get(path...).(string)
	return s
}

// get returns the value at path (map keys), or nil.
func (o object) get(path ...string) any {
	var v any = map[string]any(o)
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// renderChart renders charts/ratify with `helm template --include-crds`
// (release "ratify" in gatekeeper-system), the values of Ratify v1's install
// guide (cert rotation on, the signer's CA as notationCerts[0], mutation
// off, provider timeouts) and sets, and returns its objects.
func renderChart(t *testing.T, c *testcluster.Cluster, notationCert string, sets ...string) []object {
	t.Helper()
	args := []string{"template", "ratify", filepath.Join(moduleRoot, "charts", "ratify"),
		"--namespace", releaseNamespace, "--include-crds",
		"--set", "featureFlags.RATIFY_CERT_ROTATION=true",
		"--set-file", "notationCerts[0]=" + notationCert,
		"--set", "provider.enableMutation=false",
		"--set", "provider.timeout.validationTimeoutSeconds=10",
		"--set", "provider.timeout.mutationTimeoutSeconds=2"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(c.Bin.Helm, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return decodeObjects(t, out)
}

// decodeObjects decodes a multi-document YAML stream, skipping empty
// documents.
func decodeObjects(t *testing.T, stream []byte) []object {
	t.Helper()
	var objs []object
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		var o object
		if err := utilyaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
}

// pick returns the objects of the given kinds, in their order.
func pick(objs []object, kinds ...string) []object {
	var out []object
	for _, o := range objs {
		for _, k := range kinds {
			if o.kind() == k {
				out = append(out, o)
			}
		}
	}
	return out
}

// find returns the object of kind and name, failing t if there is none.
func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("the chart renders no %s %q", kind, name)
	return nil
}

// applyObjects applies objs with kubectl (server-side, as one List).
func applyObjects(t *testing.T, c *testcluster.Cluster, objs []object) {
	t.Helper()
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
	c.Apply(t, string(must(json.Marshal(list))(t)))
}

// replacePaths returns v (an object, or config.json) as JSON with every
// string equal to podCertsDir replaced by dir: the chart's volume mount,
// out of cluster. It fails t if v names no podCertsDir.
func replacePaths(t *testing.T, v any, dir string) []byte {
	t.Helper()
	data := must(json.Marshal(v))(t)
	quoted := must(json.Marshal(podCertsDir))(t)
	if !bytes.Contains(data, quoted) {
		t.Fatalf("the chart's object names no %s:\n%s", podCertsDir, data)
	}
	return bytes.ReplaceAll(data, quoted, must(json.Marshal(dir))(t))
}

// runChartRatify runs ratify as the chart's Deployment "ratify" would: its
// container's arguments and environment, with what the pod would mount made
// local (config.json from the ConfigMap, the notation certificates in certs,
// a serving certificate for 127.0.0.1, Gatekeeper's CA as the client CA),
// loopback listeners, and the API server reached as the chart's
// ServiceAccount, so that the chart's RBAC is what ratify may do.
//
// RATIFY_CERT_ROTATION is turned off: the rotated certificate is for the
// Service's DNS names, which do not resolve here, and no kubelet mounts its
// Secret.
func runChartRatify(t *testing.T, c *testcluster.Cluster, objs []object, certs string) *ratify {
	t.Helper()
	dir := t.TempDir()
	var cfg any
	if err := json.Unmarshal([]byte(find(t, objs, "ConfigMap", "ratify-configuration").str("data", "config.json")), &cfg); err != nil {
		t.Fatalf("the chart's config.json: %v", err)
	}
	config := filepath.Join(dir, "config.json")
	if err := os.WriteFile(config, replacePaths(t, cfg, certs), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := must(testcluster.NewCA("ratify serving CA"))(t)
	certDir := filepath.Join(dir, "tls")
	if err := ca.IssueServing(certDir, "127.0.0.1", "ratify.gatekeeper-system"); err != nil {
		t.Fatal(err)
	}
	kubeconfig := must(c.KubeconfigFor("system:serviceaccount:"+releaseNamespace+":ratify-admin",
		"system:serviceaccounts", "system:serviceaccounts:"+releaseNamespace))(t)

	dep := find(t, objs, "Deployment", "ratify")
	containers, _ := dep.get("spec", "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("the chart's Deployment has %d containers, want 1", len(containers))
	}
	ctr := object(containers[0].(map[string]any))
	var args []string
	for _, a := range ctr.get("args").([]any) {
		args = append(args, a.(string))
	}
	args = replaceFlags(t, args, map[string]string{
		"--http": "127.0.0.1:0", "-c": config, "--cert-dir": certDir, "--ca-cert-file": c.CAFile,
		"--health-port": "127.0.0.1:0", "--metrics-port": "127.0.0.1:0",
	})
	args = append(args, "--kubeconfig", kubeconfig)

	env := testratify.Env(t)
	for _, e := range ctr.get("env").([]any) {
		v := object(e.(map[string]any))
		value := v.str("value")
		if v.str("valueFrom", "fieldRef", "fieldPath") == "metadata.namespace" {
			value = releaseNamespace
		}
		switch v.str("name") {
		case "XDG_CACHE_HOME":
			value = filepath.Join(dir, "cache")
		case "RATIFY_CERT_ROTATION":
			value = "0"
		}
		env = append(env, v.str("name")+"="+value)
	}
	return runRatify(t, ca, args, env)
}

// replaceFlags returns args with the value of each flag in values replaced
// ("--flag value" or "--flag=value"), failing t if a flag is missing.
func replaceFlags(t *testing.T, args []string, values map[string]string) []string {
	t.Helper()
	out := append([]string(nil), args...)
	seen := map[string]bool{}
	for i := 0; i < len(out); i++ {
		name, _, hasValue := strings.Cut(out[i], "=")
		v, ok := values[name]
		if !ok {
			continue
		}
		seen[name] = true
		if hasValue {
			out[i] = name + "=" + v
		} else if i+1 < len(out) {
			out[i+1] = v
			i++
		}
	}
	for name := range values {
		if !seen[name] {
			t.Fatalf("the chart's Deployment passes no %s: %q", name, args)
		}
	}
	return out
}
