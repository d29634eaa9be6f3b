package testcluster

import (
	"strings"
	"testing"
)

func TestFilterKinds(t *testing.T) {
	stream := `# a comment
---
apiVersion: v1
kind: Namespace
metadata:
  name: gatekeeper-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gatekeeper-controller-manager
spec:
  template:
    spec:
      containers:
      - name: manager
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: providers.externaldata.gatekeeper.sh
spec:
  names:
    kind: Provider
`
	got := filterKinds(stream, gatekeeperBaseKinds)
	for _, want := range []string{"kind: Namespace", "kind: CustomResourceDefinition", "kind: Provider"} {
		if !strings.Contains(got, want) {
			t.Errorf("filterKinds kept no %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Deployment") || strings.Contains(got, "# a comment") {
		t.Errorf("filterKinds kept a document it should drop:\n%s", got)
	}
	if n := strings.Count(got, "---\n"); n != 2 {
		t.Errorf("filterKinds kept %d documents, want 2:\n%s", n, got)
	}
}

// denyAll is a ConstraintTemplate and constraint (pure Rego, no external
// data) that refuse every Pod in the namespace "locked".
const denyAll = `apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: testdenyall}
spec:
  crd: {spec: {names: {kind: TestDenyAll}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package testdenyall
      violation[{"msg": "every Pod is refused here"}] { true }
`

const denyAllConstraint = `apiVersion: constraints.gatekeeper.sh/v1beta1
kind: TestDenyAll
metadata: {name: locked}
spec:
  enforcementAction: deny
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    namespaces: [locked]
`

// TestStart starts a cluster and checks what its users rely on: kubectl
// works as an admin, Gatekeeper is the validating webhook for Pods and
// enforces constraints, and stopping the cluster ends every process it
// started.
func TestStart(t *testing.T) {
	var c *Cluster
	t.Run("cluster", func(t *testing.T) {
		c = Start(t, Options{Namespaces: []string{"locked"}})
		if _, stderr, err := c.Kubectl("run", "free", "--image=registry.example/app:v1", "--restart=Never"); err != nil {
			t.Fatalf("kubectl run in default: %v: %s", err, stderr)
		}
		c.Apply(t, denyAll)
		c.Eventually(t, "the TestDenyAll CRD",
			c.Equals("crd/testdenyall.constraints.gatekeeper.sh", `{.status.conditions[?(@.type=="Established")].status}`, "True"))
		c.Apply(t, denyAllConstraint)
		c.Eventually(t, "the constraint to be enforced", c.Equals("testdenyall/locked", "{.status.byPod[0].enforced}", "true"))
		_, stderr, err := c.Kubectl("run", "refused", "-n", "locked", "--image=registry.example/app:v1", "--restart=Never")
		want := `admission webhook "validation.gatekeeper.sh" denied the request: [locked] every Pod is refused here`
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("kubectl run in namespace locked: %v, %q; want refused with %q", err, stderr, want)
		}
		if _, stderr, err := c.Kubectl("run", "still-free", "--image=registry.example/app:v1", "--restart=Never"); err != nil {
			t.Errorf("kubectl run in default with the constraint: %v: %s", err, stderr)
		}
	})
	if c == nil {
		t.Fatal("the cluster did not start")
	}
	for _, p := range []*process{c.etcd, c.apiserver, c.gatekeeper} {
		select {
		case <-p.exited:
		default:
			t.Errorf("%s (pid %d) still runs after its test ended", p.name, p.cmd.Process.Pid)
		}
	}
}
