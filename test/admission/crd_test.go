package admission

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testcluster"
	"github.com/openratify/ratify/internal/testpki"
)

// TestChartCRDManager installs ratify as Ratify v1's install guide does,
// with the chart rendered by `helm template`, and runs `ratify serve
// --enable-crd-manager` out of cluster as the chart's Deployment would run
// it: its arguments and environment, its config.json (the ConfigMap), its
// notation certificates (the Secret) and its ServiceAccount's RBAC. The
// chart's Verifier, Store and Policy then configure ratify, with the
// multi-tenancy ConstraintTemplate sending "[namespace]image" keys.
func TestChartCRDManager(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Namespaces: []string{"team-a", "team-b"}})
	im := newImages(t)
	signedA, _ := im.signed(t, "app", im.signer)
	rootB := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	signedB, _ := im.signed(t, "tool", must(rootB.NewCodeSigning(testpki.CertOptions{}))(t))
	unsigned, _ := im.unsigned(t, "bare")
	// Trust material of team-b's verifier, kept for the whole test: ratify
	// reads it again whenever its configuration changes.
	certsB := t.TempDir()
	if err := testpki.WritePEM(filepath.Join(certsB, "root.pem"), rootB.Root()); err != nil {
		t.Fatal(err)
	}

	certA := filepath.Join(t.TempDir(), "notation.crt")
	if err := testpki.WritePEM(certA, im.root.Root()); err != nil {
		t.Fatal(err)
	}
	objs := renderChart(t, c, certA, "oras.useHttp=true", "gatekeeper.constraintTemplate.multiTenancy=true")
	r := installChart(t, c, objs)
	waitRefused(t, c, "team-a", unsigned, "[ratify-constraint] Subject failed verification: "+unsigned)

	t.Run("chart's verifier decides in every namespace", func(t *testing.T) {
		for _, ns := range []string{"team-a", "team-b"} {
			admitted(t, c, ns, "signed-a", signedA)
			refused(t, c, ns, "signed-b", signedB, "[ratify-constraint] Subject failed verification: "+signedB)
			refused(t, c, ns, "unsigned", unsigned, "[ratify-constraint] Subject failed verification: "+unsigned)
		}
	})

	t.Run("namespaced verifier decides only in its namespace", func(t *testing.T) {
		verifier := find(t, objs, "Verifier", "verifier-notation")
		var nv object
		if err := json.Unmarshal(replacePaths(t, verifier, certsB), &nv); err != nil {
			t.Fatal(err)
		}
		nv["kind"] = "NamespacedVerifier"
		nv["metadata"] = map[string]any{"name": "verifier-notation", "namespace": "team-b"}
		applyObjects(t, c, []object{nv})
		c.Eventually(t, "the NamespacedVerifier to be accepted",
			c.Equals("namespacedverifier/verifier-notation", "{.status.issuccess}", "true", "-n", "team-b"))
		waitAdmitted(t, c, "team-b", signedB)

		admitted(t, c, "team-b", "signed-b-2", signedB)
		// It replaces the chart's verifier in team-b: A no longer trusted there.
		refused(t, c, "team-b", "signed-a-2", signedA, "[ratify-constraint] Subject failed verification: "+signedA)
		// team-a is untouched.
		admitted(t, c, "team-a", "signed-a-2", signedA)
		refused(t, c, "team-a", "signed-b-2", signedB, "[ratify-constraint] Subject failed verification: "+signedB)
	})

	t.Run("policy change takes effect without a restart", func(t *testing.T) {
		pid := r.Pid()
		// Require an SBOM too: no image has one.
		const sbom = "application/spdx+json"
		patch := `{"spec":{"parameters":{"artifactVerificationPolicies":{"` + sbom + `":"any"}}}}`
		if _, stderr, err := c.Kubectl("patch", "policy", "ratify-policy", "--type=merge", "-p", patch); err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		waitRefused(t, c, "team-a", signedA, "[ratify-constraint] Subject failed verification: "+signedA)
		refused(t, c, "team-a", "signed-a-3", signedA, "[ratify-constraint] Subject failed verification: "+signedA)

		undo := `{"spec":{"parameters":{"artifactVerificationPolicies":{"` + sbom + `":null}}}}`
		if _, stderr, err := c.Kubectl("patch", "policy", "ratify-policy", "--type=merge", "-p", undo); err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		waitAdmitted(t, c, "team-a", signedA)
		admitted(t, c, "team-a", "signed-a-4", signedA)
		if r.Pid() != pid || r.Exited() {
			t.Errorf("ratify was restarted or exited")
		}
	})

	t.Run("deleting the namespaced verifier restores the chart's", func(t *testing.T) {
		if _, stderr, err := c.Kubectl("delete", "namespacedverifier", "verifier-notation", "-n", "team-b"); err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		waitAdmitted(t, c, "team-b", signedA)
		admitted(t, c, "team-b", "signed-a-5", signedA)
		refused(t, c, "team-b", "signed-b-5", signedB, "[ratify-constraint] Subject failed verification: "+signedB)
	})
}

// installChart applies the rendered chart but its Deployment and Service
// (ratify runs out of cluster), with the chart's volume mount of the
// notation certificates replaced by a local directory and the Providers
// pointed at the local ratify; runs ratify as the Deployment says; and
// waits until its resources are accepted and Gatekeeper enforces the
// constraint.
func installChart(t *testing.T, c *testcluster.Cluster, objs []object) *ratify {
	t.Helper()
	applyObjects(t, c, pick(objs, "CustomResourceDefinition"))
	c.Eventually(t, "ratify's CRDs", func(ctx context.Context) error {
		_, stderr, err := c.KubectlContext(ctx, "", "wait", "--for=condition=established", "--timeout=30s",
			"crd/verifiers.config.ratify.deislabs.io", "crd/namespacedverifiers.config.ratify.deislabs.io",
			"crd/stores.config.ratify.deislabs.io", "crd/policies.config.ratify.deislabs.io")
		if err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		return nil
	})
	// The notation certificates Secret, as mounted in the pod.
	certs := t.TempDir()
	for name, b64 := range find(t, objs, "Secret", "ratify-notation-certs").get("data").(map[string]any) {
		data := must(base64.StdEncoding.DecodeString(b64.(string)))(t)
		if err := os.WriteFile(filepath.Join(certs, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var local []object
	for _, o := range pick(objs, "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
		"ConfigMap", "KeyManagementProvider", "Store", "Verifier", "Policy", "ConstraintTemplate") {
		if o.kind() == "Verifier" {
			var v object
			if err := json.Unmarshal(replacePaths(t, o, certs), &v); err != nil {
				t.Fatal(err)
			}
			o = v
		}
		local = append(local, o)
	}
	applyObjects(t, c, local)

	r := runChartRatify(t, c, objs, certs)
	for _, p := range pick(objs, "Provider") {
		u, _ := p.get("spec").(map[string]any)["url"].(string)
		u = strings.Replace(u, "https://ratify.gatekeeper-system:6001/", "https://"+r.Provider+"/", 1)
		p.get("spec").(map[string]any)["url"] = u
		p.get("spec").(map[string]any)["caBundle"] = r.CA.Bundle()
	}
	applyObjects(t, c, pick(objs, "Provider"))
	for _, res := range []string{"verifier/verifier-notation", "store/store-oras", "policy/ratify-policy"} {
		c.Eventually(t, res+" to be accepted", c.Equals(res, "{.status.issuccess}", "true"))
	}
	c.Eventually(t, "the constraint CRD of RatifyVerification",
		c.Equals("crd/ratifyverification.constraints.gatekeeper.sh", `{.status.conditions[?(@.type=="Established")].status}`, "True"))
	applyObjects(t, c, pick(objs, "RatifyVerification"))
	c.Eventually(t, "ratify-constraint to be enforced",
		c.Equals("ratifyverification/ratify-constraint", "{.status.byPod[0].enforced}", "true"))
	c.Eventually(t, "ratify-provider to be active",
		c.Equals("provider/ratify-provider", "{.status.byPod[0].active}", "true"))
	return r
}
