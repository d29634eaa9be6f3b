package gatekeeper

import (
	"slices"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// defaultTemplate is the ConstraintTemplate most tests load.
const defaultTemplate = "default/template.yaml"

// cluster is one Gatekeeper installation with ratify as its provider: a
// registry of images, ratify serving over mutual TLS, and Gatekeeper's
// engine holding the library's template, constraint and Provider.
type cluster struct {
	images *images
	tls    *tlsMaterial
	ratify *testratify.Server
	gk     *gatekeeper
}

// newCluster sets up a cluster whose engine loads template (a file under
// library/) and presents its client certificate to ratify. ratify's
// verificationRequestTimeout is timeoutMS.
func newCluster(t *testing.T, template string, timeoutMS int) *cluster {
	t.Helper()
	return newClusterWith(t, template, timeoutMS, newImages(t, nil))
}

// newClusterWith is newCluster with the images of im.
func newClusterWith(t *testing.T, template string, timeoutMS int, im *images) *cluster {
	t.Helper()
	c := &cluster{images: im, tls: newTLSMaterial(t)}
	c.ratify = startRatify(t, c.tls, c.images.config(t, timeoutMS))
	c.gk = newGatekeeper(t, gatekeeperOptions{
		Template: template, ProviderAddr: c.ratify.Provider, CABundle: c.tls.CABundle(t),
		ClientCert: c.tls.ClientCert, ClientKey: c.tls.ClientKey,
	})
	return c
}

// wantDenials fails the test unless got is exactly want (both sorted).
func wantDenials(t *testing.T, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("denials:\n got %q\nwant %q", got, want)
	}
}

// TestSignedPodAdmitted: a Pod whose every container, init container and
// ephemeral container runs a signed image is admitted, and ratify did read
// the registry to decide.
func TestSignedPodAdmitted(t *testing.T) {
	c := newCluster(t, defaultTemplate, 60000)
	app, sidecar, init := c.images.signed(t, "app"), c.images.signed(t, "sidecar"), c.images.signed(t, "init")
	c.images.reg.Reset()
	got := c.gk.review(t, createRequest(t, "default", pod{
		Containers: []string{app, sidecar}, InitContainers: []string{init}, EphemeralContainers: []string{app},
	}))
	wantDenials(t, got)
	if n := c.images.reg.Count("GET", testregistry.KindReferrers); n < 3 {
		t.Errorf("the registry served %d referrers listings for 3 images: was the provider asked?", n)
	}
}

// TestUnsignedImageDenied: one unsigned image in any of the three container
// fields denies the Pod with Ratify's message, prefixed with the
// constraint's name as Gatekeeper's webhook answers it; the signed images
// beside it add nothing.
func TestUnsignedImageDenied(t *testing.T) {
	c := newCluster(t, defaultTemplate, 60000)
	signed, unsigned := c.images.signed(t, "app"), c.images.unsigned(t, "unsigned")
	for name, p := range map[string]pod{
		"container":          {Containers: []string{signed, unsigned}},
		"initContainer":      {Containers: []string{signed}, InitContainers: []string{unsigned}},
		"ephemeralContainer": {Containers: []string{signed}, EphemeralContainers: []string{unsigned}},
		"every field":        {Containers: []string{unsigned}, InitContainers: []string{unsigned}, EphemeralContainers: []string{unsigned, signed}},
		"container only":     {Containers: []string{unsigned}, InitContainers: []string{signed}},
	} {
		t.Run(name, func(t *testing.T) {
			got := c.gk.review(t, createRequest(t, "default", p))
			wantDenials(t, got, "[ratify-constraint] Subject failed verification: "+unsigned)
		})
	}
}

// TestSignatureFromUntrustedSigner: an image signed by a CA that ratify does
// not trust is denied as failing verification, like an unsigned one.
func TestSignatureFromUntrustedSigner(t *testing.T) {
	c := newCluster(t, defaultTemplate, 60000)
	otherRoot := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	stranger := must(otherRoot.NewCodeSigning(testpki.CertOptions{}))(t)
	desc := c.images.reg.PushImage(t, "stranger", "v1")
	c.images.sign(t, "stranger", desc, stranger)
	image := c.images.reg.Host() + "/stranger:v1"
	got := c.gk.review(t, createRequest(t, "default", pod{Containers: []string{image}}))
	wantDenials(t, got, "[ratify-constraint] Subject failed verification: "+image)
}

// TestExcludedNamespaceNotReviewed: the constraint excludes kube-system and
// gatekeeper-system, so their Pods are admitted without asking ratify (the
// registry sees no request), unsigned images included.
func TestExcludedNamespaceNotReviewed(t *testing.T) {
	c := newCluster(t, defaultTemplate, 60000)
	unsigned := c.images.unsigned(t, "unsigned")
	c.images.reg.Reset()
	for _, ns := range []string{"kube-system", "gatekeeper-system"} {
		wantDenials(t, c.gk.review(t, createRequest(t, ns, pod{Containers: []string{unsigned}})))
	}
	if n := c.images.reg.Total(); n != 0 {
		t.Errorf("the registry received %d requests for Pods of excluded namespaces: %v", n, c.images.reg.Counts())
	}
	// The same Pod elsewhere is denied: the exclusion, not the engine, admitted it.
	wantDenials(t, c.gk.review(t, createRequest(t, "kube-public", pod{Containers: []string{unsigned}})),
		"[ratify-constraint] Subject failed verification: "+unsigned)
}

// TestGatekeeperResponseCache: with Gatekeeper's cache of provider answers
// on (as Gatekeeper runs by default), a second review of the same Pod is
// decided from the cache, without asking ratify, and denies the same way: the
// templates do not mistake a cached answer (status_code 0) for a failure.
func TestGatekeeperResponseCache(t *testing.T) {
	im, m := newImages(t, nil), newTLSMaterial(t)
	r := startRatify(t, m, im.config(t, 60000))
	proxy := newRecordingProxy(t, m, r.Provider)
	gk := newGatekeeper(t, gatekeeperOptions{Template: defaultTemplate, ProviderAddr: proxy.Addr,
		CABundle: m.CABundle(t), ClientCert: m.ClientCert, ClientKey: m.ClientKey, ResponseCacheTTL: time.Hour})
	signed, unsigned := im.signed(t, "app"), im.unsigned(t, "unsigned")
	req := createRequest(t, "default", pod{Containers: []string{signed, unsigned}})
	want := "[ratify-constraint] Subject failed verification: " + unsigned

	wantDenials(t, gk.review(t, req), want)
	wantKeys(t, proxy.take(), signed, unsigned)
	wantDenials(t, gk.review(t, req), want)
	if ex := proxy.take(); len(ex) != 0 {
		t.Errorf("the second review asked ratify again: %+v", ex)
	}
	// A Pod with one cached image and one new: only the new one is asked.
	other := im.signed(t, "other")
	wantDenials(t, gk.review(t, createRequest(t, "default", pod{Containers: []string{signed, other}})))
	wantKeys(t, proxy.take(), other)
}

// TestBadReferenceDenied: an image that is not a valid reference gets an
// item error from ratify, and the Pod is denied as "could not verify", the
// valid signed image beside it adding nothing.
func TestBadReferenceDenied(t *testing.T) {
	c := newCluster(t, defaultTemplate, 60000)
	signed := c.images.signed(t, "app")
	const bad = "Not/A:Valid@Reference"
	got := c.gk.review(t, createRequest(t, "default", pod{Containers: []string{signed, bad}}))
	wantCouldNotVerify(t, got, bad, "invalid reference")
}
