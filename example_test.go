package ratify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/policy/configpolicy"
	"github.com/openratify/ratify/verifier/notation"
)

// Verify an image that carries one Notary Project signature, with a store
// held in memory (a registry store is built the same way from
// store/registry.New), the notation verifier trusting one CA, and a policy
// that requires one good signature.
func ExampleExecutor_Verify() {
	ctx := context.Background()
	store := newMemStore()
	img := image(store, "v1")

	ca, _ := testpki.NewRootCA(testpki.CertOptions{})
	signer, _ := ca.NewCodeSigning(testpki.CertOptions{})
	envelope, _ := signer.Sign(ctx, img, testpki.SignOptions{})
	sig, _ := testpki.NewSignature(img, testpki.MediaTypeJWS, envelope)
	for d, c := range sig.Contents() {
		store.content[d] = c
	}
	store.referrers[img.Digest] = []ocispec.Descriptor{sig.ManifestDescriptor}

	certs, _ := os.MkdirTemp("", "certs")
	defer os.RemoveAll(certs)
	_ = testpki.WritePEM(filepath.Join(certs, "ca.pem"), ca.Cert)
	verifier, err := notation.New(notation.Config{
		VerificationCerts: []string{certs},
		TrustPolicyDoc: trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
			Name:                  "all",
			RegistryScopes:        []string{"*"},
			SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: "strict"},
			TrustStores:           []string{"ca:certs"},
			TrustedIdentities:     []string{"*"},
		}}},
	}, notation.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	policy, _ := configpolicy.New(map[string]string{notation.ArtifactTypeSignature: "any"})

	exec := &ratify.Executor{Store: store, Verifiers: []ratify.Verifier{verifier}, Policy: policy}
	result, err := exec.Verify(ctx, "registry.test/app:v1", ratify.VerifyOptions{})
	if err != nil {
		fmt.Println("could not verify:", err)
		return
	}
	fmt.Println("passed:", result.IsSuccess)
	fmt.Println(result.VerifierReports[0].Message)
	// Output:
	// passed: true
	// signature verification success
}
