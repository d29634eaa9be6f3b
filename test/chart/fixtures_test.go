package chart

import (
	"context"
	"crypto/x509/pkix"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// images is an in-process registry (OCI distribution-spec v1.1, referrers
// API, plain HTTP) and a Notary Project signer issued by a root CA.
type images struct {
	reg    *testregistry.Registry
	root   *testpki.Certificate
	signer *testpki.Certificate
}

func newImages(t *testing.T) *images {
	t.Helper()
	root := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	return &images{
		reg:    testregistry.New(t, testregistry.Options{Referrers: true}),
		root:   root,
		signer: must(root.NewCodeSigning(testpki.CertOptions{}))(t),
	}
}

// rootPEM is the root CA certificate, PEM: what users pass as notationCerts[0].
func (im *images) rootPEM() []byte { return testpki.EncodePEM(im.root.Cert) }

// newSigner returns a code-signing certificate issued by the root CA for
// the subject common name cn.
func (im *images) newSigner(t *testing.T, cn string) *testpki.Certificate {
	t.Helper()
	subject := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Elsewhere"}, CommonName: cn}
	return must(im.root.NewCodeSigning(testpki.CertOptions{Subject: subject}))(t)
}

// unsigned pushes an image to repo:tag and returns its digest reference.
func (im *images) unsigned(t *testing.T, repo, tag string) string {
	t.Helper()
	desc := im.reg.PushImage(t, repo, tag)
	return im.reg.Host() + "/" + repo + "@" + desc.Digest.String()
}

// signed pushes an image to repo:tag with a Notary Project JWS signature by
// signer attached (as `notation sign` stores it) and returns its digest
// reference.
func (im *images) signed(t *testing.T, repo, tag string, signer *testpki.Certificate) string {
	t.Helper()
	desc := im.reg.PushImage(t, repo, tag)
	envelope := must(signer.Sign(context.Background(), desc, testpki.SignOptions{}))(t)
	sig := must(testpki.NewSignature(desc, testpki.MediaTypeJWS, envelope))(t)
	im.reg.PushBlob(t, repo, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	im.reg.PushBlob(t, repo, testpki.MediaTypeJWS, sig.Envelope)
	im.reg.PushManifest(t, repo, "", ocispec.MediaTypeImageManifest, sig.Manifest)
	return im.reg.Host() + "/" + repo + "@" + desc.Digest.String()
}
