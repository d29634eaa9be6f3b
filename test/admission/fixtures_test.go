package admission

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testcluster"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// images is a registry with the referrers API holding images, some signed
// by a Notary Project signer whose root CA ratify's configuration trusts.
type images struct {
	reg    *testregistry.Registry
	root   *testpki.Certificate
	signer *testpki.Certificate
}

// newImages starts a registry on 127.0.0.1 and makes a root CA and a
// code-signing certificate it issued.
func newImages(t *testing.T) *images {
	t.Helper()
	root := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	return &images{
		reg:    testregistry.New(t, testregistry.Options{Referrers: true}),
		root:   root,
		signer: must(root.NewCodeSigning(testpki.CertOptions{}))(t),
	}
}

// unsigned pushes an image to repo, tagged v1, and returns its reference
// by tag (127.0.0.1:PORT/repo:v1) and by digest.
func (im *images) unsigned(t *testing.T, repo string) (tag, digest string) {
	t.Helper()
	desc := im.reg.PushImage(t, repo, "v1")
	ref := im.reg.Host() + "/" + repo
	return ref + ":v1", ref + "@" + desc.Digest.String()
}

// signed pushes an image to repo, tagged v1, signs it with signer (a
// certificate and its chain, leaf first) through the notation CLI, as a
// user does on a registry with the referrers API (notationSign: an OCI
// image manifest of artifact type application/vnd.cncf.notary.signature
// whose layer is the JWS envelope, attached to the image by its subject
// field), and returns the image's reference by tag and by digest. It fails
// t unless the registry then lists exactly that one signature as the
// image's referrer.
func (im *images) signed(t *testing.T, repo string, signer *testpki.Certificate) (tag, digest string) {
	t.Helper()
	desc := im.reg.PushImage(t, repo, "v1")
	ref := im.reg.Host() + "/" + repo
	tag, digest = ref+":v1", ref+"@"+desc.Digest.String()
	notationSign(t, digest, signer)
	if sigs := notationReferrers(t, im.reg, repo, desc.Digest.String()); len(sigs) != 1 || sigs[0].MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("after notation sign %s: the referrers API lists Notary Project signatures %+v; want one OCI image manifest", digest, sigs)
	}
	return tag, digest
}

// writeConfig writes a config.json (Ratify v1's format) that verifies Notary
// Project signatures chaining to root (one "any" rule), reading registries
// over plain HTTP, and returns its path. verificationRequestTimeout is 8 s:
// below the Provider's 10 s timeout (library/provider.yaml), far above what
// a verification takes on a busy machine.
func writeConfig(t *testing.T, root *testpki.Certificate) string {
	t.Helper()
	return testratify.WriteConfig(t, testratify.ConfigOptions{
		CA: []*x509.Certificate{root.Root()}, Name: "admission", TimeoutMS: 8000})
}

// providers returns library/provider.yaml pointed at ratify: its service URL
// replaced by ratify's loopback address and the caBundle placeholder by
// ratify's serving CA. It fails t if the file no longer has what it
// replaces.
func providers(t *testing.T, r *ratify) string {
	t.Helper()
	y := libraryFile(t, "provider.yaml")
	const host, bundle = "https://ratify.gatekeeper-system:6001/", "caBundle: ${RATIFY_CA_BUNDLE}"
	if strings.Count(y, host) != 2 || strings.Count(y, bundle) != 2 {
		t.Fatalf("library/provider.yaml: want 2 Providers with %s and %q; it is:\n%s", host, bundle, y)
	}
	y = strings.ReplaceAll(y, host, "https://"+r.Provider+"/")
	return strings.ReplaceAll(y, bundle, "caBundle: "+r.CA.Bundle())
}

// installPolicy applies the Providers, the ConstraintTemplate of
// template (a file of library/) and the constraint
// library/default/samples/constraint.yaml, and waits until Gatekeeper
// enforces the constraint and holds the Provider active.
func installPolicy(t *testing.T, c *testcluster.Cluster, r *ratify, template string) {
	t.Helper()
	c.Apply(t, providers(t, r))
	c.Apply(t, libraryFile(t, template))
	c.Eventually(t, "the constraint CRD of RatifyVerification",
		c.Equals("crd/ratifyverification.constraints.gatekeeper.sh", `{.status.conditions[?(@.type=="Established")].status}`, "True"))
	c.Apply(t, libraryFile(t, "default/samples/constraint.yaml"))
	c.Eventually(t, "ratify-constraint to be enforced",
		c.Equals("ratifyverification/ratify-constraint", "{.status.byPod[0].enforced}", "true"))
	c.Eventually(t, "ratify-provider to be active",
		c.Equals("provider/ratify-provider", "{.status.byPod[0].active}", "true"))
}

// waitRefused polls a server-side dry run of a Pod running image in
// namespace until the webhook refuses it with want. The API server picks
// up a new webhook configuration, and Gatekeeper a new constraint,
// asynchronously; this is the readiness of the whole chain, after which
// every test's outcome is decided on its first attempt.
func waitRefused(t *testing.T, c *testcluster.Cluster, namespace, image, want string) {
	t.Helper()
	c.Eventually(t, "the webhook to refuse "+image, func(ctx context.Context) error {
		_, stderr, err := c.KubectlContext(ctx, "", "run", "readiness-probe", "-n", namespace, "--image="+image,
			"--restart=Never", "--dry-run=server")
		if err == nil || !strings.Contains(stderr, want) {
			return fmt.Errorf("dry run: %v: %s", err, stderr)
		}
		return nil
	})
}

// waitAdmitted polls a server-side dry run of a Pod running image in
// namespace until the webhooks admit it: the readiness of a configuration
// change, after which tests decide on their first attempt.
func waitAdmitted(t *testing.T, c *testcluster.Cluster, namespace, image string) {
	t.Helper()
	c.Eventually(t, "the webhook to admit "+image+" in "+namespace, func(ctx context.Context) error {
		_, stderr, err := c.KubectlContext(ctx, "", "run", "readiness-probe", "-n", namespace, "--image="+image,
			"--restart=Never", "--dry-run=server")
		if err != nil {
			return fmt.Errorf("dry run: %v: %s", err, stderr)
		}
		return nil
	})
}
