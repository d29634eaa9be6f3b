package gatekeeper

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/uuid"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// images is a registry holding images, some signed by a Notary Project
// signer whose root CA ratify trusts.
type images struct {
	reg    *testregistry.Registry
	root   *testpki.Certificate
	signer *testpki.Certificate
}

// newImages starts a registry with the OCI distribution-spec v1.1 referrers
// API, wrapped in handler when it is not nil, and makes a root CA and a
// code-signing certificate it issued.
func newImages(t *testing.T, handler func(http.Handler) http.Handler) *images {
	t.Helper()
	root := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	return &images{
		reg:    testregistry.New(t, testregistry.Options{Referrers: true, Handler: handler}),
		root:   root,
		signer: must(root.NewCodeSigning(testpki.CertOptions{}))(t),
	}
}

// config writes a config.json trusting the root CA, with
// verificationRequestTimeout timeoutMS.
func (im *images) config(t *testing.T, timeoutMS int) string {
	t.Helper()
	return testratify.WriteConfig(t, testratify.ConfigOptions{
		CA: []*x509.Certificate{im.root.Root()}, Name: "gatekeeper", TimeoutMS: timeoutMS})
}

// unsigned pushes an image to repo, tagged v1, and returns its reference
// (host/repo:v1).
func (im *images) unsigned(t *testing.T, repo string) string {
	t.Helper()
	im.reg.PushImage(t, repo, "v1")
	return im.reg.Host() + "/" + repo + ":v1"
}

// signed pushes an image to repo, tagged v1, with a Notary Project JWS
// signature attached, and returns its reference (host/repo:v1).
func (im *images) signed(t *testing.T, repo string) string {
	t.Helper()
	desc := im.reg.PushImage(t, repo, "v1")
	im.sign(t, repo, desc, im.signer)
	return im.reg.Host() + "/" + repo + ":v1"
}

// sign attaches a signature of subject by signer to repo, as `notation sign`
// stores it: an OCI image manifest of artifact type
// application/vnd.cncf.notary.signature whose layer is the envelope.
func (im *images) sign(t *testing.T, repo string, subject ocispec.Descriptor, signer *testpki.Certificate) {
	t.Helper()
	envelope := must(signer.Sign(context.Background(), subject, testpki.SignOptions{}))(t)
	sig := must(testpki.NewSignature(subject, testpki.MediaTypeJWS, envelope))(t)
	im.reg.PushBlob(t, repo, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	im.reg.PushBlob(t, repo, testpki.MediaTypeJWS, sig.Envelope)
	im.reg.PushManifest(t, repo, "", ocispec.MediaTypeImageManifest, sig.Manifest)
}

// pod describes the containers of a Pod by their images.
type pod struct {
	Containers, InitContainers, EphemeralContainers []string
}

// createRequest returns the AdmissionRequest (admission.k8s.io/v1) that the
// API server sends Gatekeeper's validating webhook when p is created in
// namespace: the Pod, as JSON, in object.
func createRequest(t *testing.T, namespace string, p pod) *admissionv1.AdmissionRequest {
	t.Helper()
	obj := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: namespace},
	}
	for i, image := range p.Containers {
		obj.Spec.Containers = append(obj.Spec.Containers, corev1.Container{Name: fmt.Sprintf("app-%d", i), Image: image})
	}
	for i, image := range p.InitContainers {
		obj.Spec.InitContainers = append(obj.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("init-%d", i), Image: image})
	}
	for i, image := range p.EphemeralContainers {
		obj.Spec.EphemeralContainers = append(obj.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: fmt.Sprintf("debug-%d", i), Image: image}})
	}
	return &admissionv1.AdmissionRequest{
		UID:       types.UID(uuid.NewString()),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Name:      obj.Name,
		Namespace: namespace,
		Operation: admissionv1.Create,
		UserInfo:  authenticationv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters"}},
		Object:    runtime.RawExtension{Raw: must(json.Marshal(obj))(t)},
	}
}
