package notation

import (
	"context"
	"errors"
	"fmt"
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
)

// image is the descriptor of the subject every test signs.
var image = ocispec.Descriptor{
	MediaType: ocispec.MediaTypeImageManifest,
	Digest:    digest.FromString("the demo image manifest"),
	Size:      1024,
}

// subjectIn returns the image as a subject in repository repo of the
// test registry 127.0.0.1:5000.
func subjectIn(repo string) ratify.Subject {
	return ratify.Subject{
		Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: repo, Reference: image.Digest.String()},
		Descriptor: image,
	}
}

// memFetcher serves content by digest, as a store would after checking it.
type memFetcher map[digest.Digest][]byte

func (m memFetcher) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	b, ok := m[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return b, nil
}

// policy returns a one-statement trust policy document for
// 127.0.0.1:5000/demo, strict, trusting store ca:certs and any identity;
// mods adjust the statement.
func policy(mods ...func(*trustpolicy.TrustPolicy)) trustpolicy.Document {
	p := trustpolicy.TrustPolicy{
		Name:                  "demo",
		RegistryScopes:        []string{"127.0.0.1:5000/demo"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: "strict"},
		TrustStores:           []string{"ca:certs"},
		TrustedIdentities:     []string{"*"},
	}
	for _, m := range mods {
		m(&p)
	}
	return trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{p}}
}

func level(l string) func(*trustpolicy.TrustPolicy) {
	return func(p *trustpolicy.TrustPolicy) {
		p.SignatureVerification.VerificationLevel = l
		if l == "skip" {
			p.TrustStores, p.TrustedIdentities = nil, nil
		}
	}
}

func stores(s ...string) func(*trustpolicy.TrustPolicy) {
	return func(p *trustpolicy.TrustPolicy) { p.TrustStores = s }
}

func identities(ids ...string) func(*trustpolicy.TrustPolicy) {
	return func(p *trustpolicy.TrustPolicy) { p.TrustedIdentities = ids }
}

// newRoot makes a root CA and writes it to a flat certificate directory.
func newRoot(t *testing.T) (*testpki.Certificate, string) {
	t.Helper()
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := testpki.WritePEM(filepath.Join(dir, "root.pem"), root.Cert); err != nil {
		t.Fatal(err)
	}
	return root, dir
}

func newLeaf(t *testing.T, issuer *testpki.Certificate, opts testpki.CertOptions) *testpki.Certificate {
	t.Helper()
	leaf, err := issuer.NewCodeSigning(opts)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// sign signs desc with leaf and returns the signature manifest and content.
func sign(t *testing.T, leaf *testpki.Certificate, desc ocispec.Descriptor, opts testpki.SignOptions) *testpki.Signature {
	t.Helper()
	env, err := leaf.Sign(context.Background(), desc, opts)
	if err != nil {
		t.Fatal(err)
	}
	mt := opts.MediaType
	if mt == "" {
		mt = testpki.MediaTypeJWS
	}
	sig, err := testpki.NewSignature(image, mt, env)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func newVerifier(t *testing.T, doc trustpolicy.Document, certs []string, opts Options) *Verifier {
	t.Helper()
	v, err := New(Config{Name: "verifier-under-test", VerificationCerts: certs, TrustPolicyDoc: doc}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verify(t *testing.T, v *Verifier, subject ratify.Subject, sig *testpki.Signature) ratify.Report {
	t.Helper()
	r, err := v.Verify(context.Background(), subject, sig.ManifestDescriptor, memFetcher(sig.Contents()))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

// checkReport compares the fields a test cares about: success, and words
// the message and error reason must contain.
func checkReport(t *testing.T, r ratify.Report, wantOK bool, wantMessage, wantReason string) {
	t.Helper()
	if r.IsSuccess != wantOK {
		t.Errorf("IsSuccess = %v, want %v; report %+v", r.IsSuccess, wantOK, r)
	}
	if !strings.Contains(r.Message, wantMessage) {
		t.Errorf("Message = %q, want it to contain %q", r.Message, wantMessage)
	}
	if !strings.Contains(r.ErrorReason, wantReason) {
		t.Errorf("ErrorReason = %q, want it to contain %q", r.ErrorReason, wantReason)
	}
	if !wantOK && (r.ErrorReason == "" || r.Remediation == "") {
		t.Errorf("failed report without reason or remediation: %+v", r)
	}
}

var errFetch = errors.New("registry went away")

// failingFetcher fails for one digest and serves the rest.
type failingFetcher struct {
	memFetcher
	fail digest.Digest
}

func (f failingFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Digest == f.fail {
		return nil, fmt.Errorf("fetch %s: %w", desc.Digest, errFetch)
	}
	return f.memFetcher.Fetch(ctx, desc)
}
