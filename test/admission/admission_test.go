package admission

import (
	"fmt"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testcluster"
	"github.com/openratify/ratify/internal/testpki"
)

// denied is how kubectl reports a Pod that Gatekeeper's validating webhook
// refused; Gatekeeper prefixes each violation with the constraint's name.
const denied = `admission webhook "validation.gatekeeper.sh" denied the request: `

// TestAdmission runs the flow of Ratify's quick start: a cluster with
// Gatekeeper, ratify as its external data provider over mutual TLS, the
// default RatifyVerification template and ratify-constraint; then Pods of
// signed and unsigned images. The subtests share the cluster and run in
// order; the last one stops ratify.
func TestAdmission(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Namespaces: []string{"team-a", "kube-system"}})
	im := newImages(t)
	signed, signedDigest := im.signed(t, "app", im.signer)
	unsigned, _ := im.unsigned(t, "tool")
	// Signed, but by a CA ratify does not trust.
	stranger := must(must(testpki.NewRootCA(testpki.CertOptions{}))(t).NewCodeSigning(testpki.CertOptions{}))(t)
	untrusted, _ := im.signed(t, "other", stranger)

	r := startRatify(t, writeConfig(t, im.root), c.CAFile)
	installPolicy(t, c, r, "default/template.yaml")
	waitRefused(t, c, "default", unsigned, "[ratify-constraint] Subject failed verification: "+unsigned)

	t.Run("signed image admitted", func(t *testing.T) {
		admitted(t, c, "default", "signed", signed)
		// No kubelet runs: the Pod exists and waits to be scheduled.
		if phase, err := c.Get(t.Context(), "pod/signed", "{.status.phase}"); err != nil || phase != "Pending" {
			t.Errorf("pod/signed: phase %q, %v; want Pending", phase, err)
		}
	})
	t.Run("signed image by digest admitted", func(t *testing.T) {
		admitted(t, c, "default", "by-digest", signedDigest)
	})
	t.Run("unsigned image refused", func(t *testing.T) {
		refused(t, c, "default", "unsigned", unsigned, "[ratify-constraint] Subject failed verification: "+unsigned)
	})
	t.Run("untrusted signer refused", func(t *testing.T) {
		refused(t, c, "default", "untrusted", untrusted, "[ratify-constraint] Subject failed verification: "+untrusted)
	})
	t.Run("unsigned image refused in another namespace", func(t *testing.T) {
		refused(t, c, "team-a", "unsigned", unsigned, "[ratify-constraint] Subject failed verification: "+unsigned)
	})
	t.Run("excluded namespace admits unsigned", func(t *testing.T) {
		// ratify-constraint excludes kube-system (and the webhook skips it).
		admitted(t, c, "kube-system", "unsigned", unsigned)
	})
	t.Run("pod with a signed and an unsigned container refused", func(t *testing.T) {
		stderr := apply(t, c, podManifest("mixed", "default", map[string]string{"signed": signed, "unsigned": unsigned}, nil), false)
		want := denied + "[ratify-constraint] Subject failed verification: " + unsigned
		if !strings.Contains(stderr, want) {
			t.Errorf("kubectl apply: stderr %q, want it to contain %q", stderr, want)
		}
		if strings.Contains(stderr, "verification: "+signed) {
			t.Errorf("kubectl apply: stderr %q names the signed image %s as failing", stderr, signed)
		}
		absent(t, c, "default", "mixed")
	})
	t.Run("unsigned init container refused", func(t *testing.T) {
		stderr := apply(t, c, podManifest("init", "default", map[string]string{"app": signed}, map[string]string{"setup": unsigned}), false)
		if want := denied + "[ratify-constraint] Subject failed verification: " + unsigned; !strings.Contains(stderr, want) {
			t.Errorf("kubectl apply: stderr %q, want it to contain %q", stderr, want)
		}
		absent(t, c, "default", "init")
	})
	t.Run("ratify stopped fails closed", func(t *testing.T) {
		r.Stop(t)
		_, stderr, err := c.Kubectl("run", "after-stop", "--image="+signed, "--restart=Never")
		// The template's system-error rule, with the error of Gatekeeper's
		// external data client.
		want := denied + "[ratify-constraint] System error calling external data provider: " +
			fmt.Sprintf(`failed to send external data request: Post "https://%s/ratify/gatekeeper/v1/verify": dial tcp %[1]s: connect: connection refused`, r.Provider)
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("kubectl run of a signed image with ratify stopped: %v, stderr %q; want refused with %q", err, stderr, want)
		}
		absent(t, c, "default", "after-stop")
	})
}

// admitted runs `kubectl run name --image=image` in namespace and fails t
// unless the Pod was created.
func admitted(t *testing.T, c *testcluster.Cluster, namespace, name, image string) {
	t.Helper()
	stdout, stderr, err := c.Kubectl("run", name, "-n", namespace, "--image="+image, "--restart=Never")
	if want := "pod/" + name + " created"; err != nil || strings.TrimSpace(stdout) != want {
		t.Errorf("kubectl run %s --image=%s: %v, stdout %q, stderr %q; want %q", name, image, err, stdout, stderr, want)
	}
}

// refused runs `kubectl run name --image=image` in namespace and fails t
// unless the webhook refused it with a message containing want, and the Pod
// does not exist.
func refused(t *testing.T, c *testcluster.Cluster, namespace, name, image, want string) {
	t.Helper()
	_, stderr, err := c.Kubectl("run", name, "-n", namespace, "--image="+image, "--restart=Never")
	if err == nil || !strings.Contains(stderr, denied+want) {
		t.Errorf("kubectl run %s --image=%s: %v, stderr %q; want refused with %q", name, image, err, stderr, denied+want)
	}
	t.Logf("kubectl run %s --image=%s: %s", name, image, strings.TrimSpace(stderr))
	absent(t, c, namespace, name)
}

// apply applies manifest with `kubectl apply -f -`, fails t unless it
// succeeded as wantOK says, and returns kubectl's standard error.
func apply(t *testing.T, c *testcluster.Cluster, manifest string, wantOK bool) string {
	t.Helper()
	_, stderr, err := c.KubectlInput(manifest, "apply", "-f", "-")
	if (err == nil) != wantOK {
		t.Errorf("kubectl apply: %v, stderr %q; want success %v; manifest:\n%s", err, stderr, wantOK, manifest)
	}
	return stderr
}

// absent fails t if the Pod namespace/name exists.
func absent(t *testing.T, c *testcluster.Cluster, namespace, name string) {
	t.Helper()
	_, stderr, err := c.Kubectl("get", "pod", name, "-n", namespace)
	if err == nil || !strings.Contains(stderr, fmt.Sprintf(`pods %q not found`, name)) {
		t.Errorf("pod %s/%s: %v, %q; want it not found", namespace, name, err, stderr)
	}
}

// podManifest returns a Pod with containers and initContainers (name to
// image), as JSON, which is YAML.
func podManifest(name, namespace string, containers, initContainers map[string]string) string {
	list := func(m map[string]string) string {
		var items []string
		for n, image := range m {
			items = append(items, fmt.Sprintf(`{"name": %q, "image": %q}`, n, image))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": %q, "namespace": %q},
 "spec": {"restartPolicy": "Never", "containers": %s, "initContainers": %s}}`,
		name, namespace, list(containers), list(initContainers))
}
