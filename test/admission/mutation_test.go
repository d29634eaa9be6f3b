package admission

import (
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testcluster"
)

// TestMutation runs tag-to-digest mutation as Ratify's chart sets it up by
// default (provider.enableMutation): Gatekeeper's mutating webhook asks
// ratify-mutation-provider for each image's digest through the Assign
// mutators of library/mutation, then its validating webhook verifies the
// pinned image. The Pod runs exactly the manifest that was verified.
func TestMutation(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{Mutation: true})
	im := newImages(t)
	signed, signedDigest := im.signed(t, "app", im.signer)
	unsigned, unsignedDigest := im.unsigned(t, "tool")

	r := startRatify(t, writeConfig(t, im.root), c.CAFile)
	installPolicy(t, c, r, "default/template.yaml")
	c.Apply(t, libraryFile(t, "mutation/assign-image-digest.yaml"))
	for _, assign := range []string{"ratify-digest-containers", "ratify-digest-init-containers", "ratify-digest-ephemeral-containers"} {
		c.Eventually(t, assign+" to be enforced", c.Equals("assign/"+assign, "{.status.byPod[0].enforced}", "true"))
	}
	waitRefused(t, c, "default", unsigned, "[ratify-constraint] Subject failed verification: "+unsignedDigest)

	t.Run("tag pinned to the digest ratify verified", func(t *testing.T) {
		admitted(t, c, "default", "pinned", signed)
		image, err := c.Get(t.Context(), "pod/pinned", "{.spec.containers[0].image}")
		if err != nil || image != signedDigest {
			t.Errorf("pod/pinned runs %q (%v), want %q", image, err, signedDigest)
		}
	})
	t.Run("unsigned image refused by its digest", func(t *testing.T) {
		refused(t, c, "default", "unsigned", unsigned, "[ratify-constraint] Subject failed verification: "+unsignedDigest)
	})
	t.Run("unknown tag refused by the mutation", func(t *testing.T) {
		missing := im.reg.Host() + "/app:missing"
		_, stderr, err := c.Kubectl("run", "missing", "--image="+missing, "--restart=Never")
		// Gatekeeper's message, around ratify's answer for the key.
		want := `admission webhook "mutation.gatekeeper.sh" denied the request: failed to resolve external data placeholders: ` +
			"failed to retrieve external data item from provider ratify-mutation-provider: mutate " + missing + ": "
		if err == nil || !strings.Contains(stderr, want) || !strings.HasSuffix(strings.TrimSpace(stderr), ": not found") {
			t.Errorf("kubectl run of %s: %v, stderr %q; want refused with %q ... \": not found\"", missing, err, stderr, want)
		}
		t.Logf("kubectl run --image=%s: %s", missing, strings.TrimSpace(stderr))
		absent(t, c, "default", "missing")
	})
}
