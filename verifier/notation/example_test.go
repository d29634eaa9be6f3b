package notation_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/verifier/notation"
)

// contents serves content by digest, standing in for a registry store.
type contents map[digest.Digest][]byte

func (c contents) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := c[desc.Digest]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s: not found", desc.Digest)
}

// Verify a Notary Project signature on an image in 127.0.0.1:5000/demo
// against a trust policy that trusts one root CA.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	root, _ := testpki.NewRootCA(testpki.CertOptions{})
	signer, _ := root.NewCodeSigning(testpki.CertOptions{})
	certDir, _ := os.MkdirTemp("", "certs")
	defer os.RemoveAll(certDir)
	_ = testpki.WritePEM(filepath.Join(certDir, "root.pem"), root.Cert)

	v, err := notation.New(notation.Config{
		Name:              "notation",
		VerificationCerts: []string{certDir},
		TrustPolicyDoc: trustpolicy.Document{
			Version: "1.0",
			TrustPolicies: []trustpolicy.TrustPolicy{{
				Name:                  "demo",
				RegistryScopes:        []string{"127.0.0.1:5000/demo"},
				SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: "strict"},
				TrustStores:           []string{"ca:certs"},
				TrustedIdentities:     []string{"x509.subject: C=US, ST=WA, O=Ratify Test"},
			}},
		},
	}, notation.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}

	image := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	envelope, _ := signer.Sign(ctx, image, testpki.SignOptions{MediaType: testpki.MediaTypeCOSE})
	sig, _ := testpki.NewSignature(image, testpki.MediaTypeCOSE, envelope)

	subject := ratify.Subject{
		Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "demo", Reference: image.Digest.String()},
		Descriptor: image,
	}
	report, err := v.Verify(ctx, subject, sig.ManifestDescriptor, contents(sig.Contents()))
	if err != nil {
		fmt.Println("could not verify:", err)
		return
	}
	fmt.Println(report.IsSuccess, report.Message)
	fmt.Println(report.Extensions["SN"])
	// Output:
	// true signature verification success
	// CN=Ratify Test Signer,O=Ratify Test,L=Seattle,ST=WA,C=US
}
