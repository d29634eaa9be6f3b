package notation_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/verifier/notation"
)

// fuzzFetcher serves a signature's contents by digest.
type fuzzFetcher map[digest.Digest][]byte

func (m fuzzFetcher) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := m[desc.Digest]; ok {
		return b, nil
	}
	return nil, errdef.ErrNotFound
}

// FuzzTrustPolicy builds verifiers from arbitrary Notary Project trust
// policy documents (config.json's trustPolicyDoc, a Verifier resource's
// parameters) and verifies two signatures of one image with each: one by
// a signer the trust store trusts, one by a stranger. Nothing panics; a
// refused document wraps errdef.ErrInvalidConfig; verification answers
// with a report, never an error, as the content is at hand; a pass needs a
// policy whose registryScopes name the subject's repository exactly or
// "*" (scopes are never prefixes); and the stranger passes only under a
// policy that does not enforce authenticity (skip, audit, or an override
// to log).
func FuzzTrustPolicy(f *testing.F) {
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if err := testpki.WritePEM(filepath.Join(dir, "root.pem"), root.Cert); err != nil {
		f.Fatal(err)
	}
	subject := ratify.Subject{
		Reference:  registry.Reference{Registry: "registry.fuzz", Repository: "team/app", Reference: "v1"},
		Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("fuzzed image"), Size: 512},
	}
	trusted, err := root.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	strangerRoot, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	stranger, err := strangerRoot.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	type signature struct {
		desc    ocispec.Descriptor
		fetcher fuzzFetcher
	}
	sign := func(signer *testpki.Certificate) signature {
		env, err := signer.Sign(context.Background(), subject.Descriptor, testpki.SignOptions{})
		if err != nil {
			f.Fatal(err)
		}
		sig, err := testpki.NewSignature(subject.Descriptor, testpki.MediaTypeJWS, env)
		if err != nil {
			f.Fatal(err)
		}
		return signature{sig.ManifestDescriptor, fuzzFetcher(sig.Contents())}
	}
	good, bad := sign(trusted), sign(stranger)

	for _, doc := range []string{
		`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}`,
		`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["registry.fuzz/team/app"],"signatureVerification":{"level":"audit"},"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}`,
		`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["registry.fuzz/team"],"signatureVerification":{"level":"strict"},"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}`,
		`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["registry.fuzz/team/app"],"signatureVerification":{"level":"permissive","override":{"authenticity":"log"}},"trustStores":["ca:certs"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=Ratify Test, CN=code signing"]}]}`,
		`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"skip"}},{"name":"q","registryScopes":["registry.fuzz/team/app"],"signatureVerification":{"level":"strict","verifyTimestamp":"afterCertExpiry"},"trustStores":["ca:certs","tsa:certs"],"trustedIdentities":["*"]}]}`,
		`{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["signingAuthority:certs"],"trustedIdentities":["x509.subject: CN=a, O=b,"]}]}`,
		`{"version":"2.0"}`, `{"trustPolicies":null}`, `null`,
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var doc trustpolicy.Document
		if json.Unmarshal(raw, &doc) != nil {
			return
		}
		v, err := notation.New(notation.Config{VerificationCerts: []string{dir}, TrustPolicyDoc: doc}, notation.Options{})
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("New: %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		scoped := false
		for _, p := range doc.TrustPolicies {
			for _, s := range p.RegistryScopes {
				scoped = scoped || s == "*" || s == "registry.fuzz/team/app"
			}
		}
		for name, sig := range map[string]signature{"trusted": good, "stranger": bad} {
			r, err := v.Verify(context.Background(), subject, sig.desc, sig.fetcher)
			if err != nil {
				t.Fatalf("%s: Verify: %v", name, err)
			}
			if !r.IsSuccess {
				if r.ErrorReason == "" && r.Message == "" {
					t.Fatalf("%s: failed report says nothing: %+v", name, r)
				}
				continue
			}
			if !scoped {
				t.Fatalf("%s passed with no policy scoped to the subject: %s", name, raw)
			}
			low := strings.ToLower(string(raw))
			lax := strings.Contains(low, "skip") || strings.Contains(low, "audit") || strings.Contains(low, "log")
			if name == "stranger" && !lax {
				t.Fatalf("an untrusted signer passed under an enforcing policy: %s", raw)
			}
		}
	})
}
