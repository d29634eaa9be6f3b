package notation

import (
	"context"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
)

// tamper changes one character of a JWS envelope's signature.
func tamper(t *testing.T, env []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(m["signature"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0xff
	m["signature"] = base64.RawURLEncoding.EncodeToString(sig)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerify(t *testing.T) {
	root, certDir := newRoot(t)
	leaf := newLeaf(t, root, testpki.CertOptions{})
	inter, err := root.NewIntermediateCA(testpki.CertOptions{KeyType: testpki.RSA2048})
	if err != nil {
		t.Fatal(err)
	}
	interLeaf := newLeaf(t, inter, testpki.CertOptions{KeyType: testpki.RSA2048})
	otherRoot, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	untrustedLeaf := newLeaf(t, otherRoot, testpki.CertOptions{})
	now := time.Now()
	expiredLeaf := newLeaf(t, root, testpki.CertOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	backdated := testpki.SignOptions{SigningTime: now.Add(-36 * time.Hour)}
	otherImage := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("another image"), Size: 99}

	leafDN := "x509.subject: C=US, ST=WA, L=Seattle, O=Ratify Test, CN=Ratify Test Signer"
	tests := []struct {
		name        string
		signer      *testpki.Certificate
		signed      ocispec.Descriptor
		opts        testpki.SignOptions
		tamper      bool
		repo        string
		doc         trustpolicy.Document
		wantOK      bool
		wantMessage string
		wantReason  string
	}{
		{name: "valid JWS", wantOK: true, wantMessage: "signature verification success"},
		{name: "valid COSE", opts: testpki.SignOptions{MediaType: testpki.MediaTypeCOSE}, wantOK: true,
			wantMessage: "signature verification success"},
		{name: "chain through an intermediate CA", signer: interLeaf, wantOK: true,
			wantMessage: "signature verification success"},
		{name: "untrusted signer", signer: untrustedLeaf,
			wantMessage: "signature is not produced by a trusted signer", wantReason: "not produced by a trusted signer"},
		{name: "tampered signature", tamper: true,
			wantMessage: "malformed or has been tampered with", wantReason: "signature is invalid"},
		{name: "expired signing certificate", signer: expiredLeaf, opts: backdated,
			wantMessage: "signing certificate expired", wantReason: "expired at"},
		{name: "signature expired", opts: testpki.SignOptions{SigningTime: now.Add(-30 * time.Minute), Expiry: 10 * time.Minute},
			wantMessage: "the signature has expired", wantReason: "has expired on"},
		{name: "out-of-scope registry", repo: "other",
			wantMessage: "no trust policy applies to 127.0.0.1:5000/other", wantReason: "no applicable trust policy"},
		{name: "signature on a different digest", signed: otherImage,
			wantMessage: "the signature is for " + otherImage.Digest.String() + ", not for " + image.Digest.String()},
		{name: "audit passes an untrusted signer", signer: untrustedLeaf, doc: policy(level("audit")), wantOK: true,
			wantMessage: "logged failures: authenticity: signature is not produced by a trusted signer"},
		{name: "audit still rejects a tampered signature", tamper: true, doc: policy(level("audit")),
			wantMessage: "tampered with"},
		{name: "skip passes anything", tamper: true, signer: untrustedLeaf, doc: policy(level("skip")), wantOK: true,
			wantMessage: "signature verification skipped"},
		{name: "permissive passes an expired certificate", signer: expiredLeaf, opts: backdated, doc: policy(level("permissive")),
			wantOK: true, wantMessage: "logged failures: authenticTimestamp: signing certificate expired"},
		{name: "permissive rejects an untrusted signer", signer: untrustedLeaf, doc: policy(level("permissive")),
			wantMessage: "not produced by a trusted signer"},
		{name: "trusted identity matches", doc: policy(identities(leafDN)), wantOK: true,
			wantMessage: "signature verification success"},
		{name: "trusted identity partial DN matches", doc: policy(identities("x509.subject: C=US, ST=WA, O=Ratify Test")), wantOK: true,
			wantMessage: "signature verification success"},
		{name: "trusted identity does not match", doc: policy(identities("x509.subject: C=US, ST=WA, O=Someone Else")),
			wantMessage: `signing certificate is not a trusted identity of trust policy "demo"`, wantReason: "does not match"},
		{name: "override logs authenticity", signer: untrustedLeaf, wantOK: true,
			doc: policy(func(p *trustpolicy.TrustPolicy) {
				p.SignatureVerification.Override = map[trustpolicy.ValidationType]trustpolicy.ValidationAction{
					trustpolicy.TypeAuthenticity: trustpolicy.ActionLog,
				}
			}),
			wantMessage: "logged failures: authenticity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			signer, signed, repo, doc := tc.signer, tc.signed, tc.repo, tc.doc
			if signer == nil {
				signer = leaf
			}
			if signed.Digest == "" {
				signed = image
			}
			if repo == "" {
				repo = "demo"
			}
			if doc.Version == "" {
				doc = policy()
			}
			sig := sign(t, signer, signed, tc.opts)
			if tc.tamper {
				tampered, err := testpki.NewSignature(image, testpki.MediaTypeJWS, tamper(t, sig.Envelope))
				if err != nil {
					t.Fatal(err)
				}
				sig = tampered
			}
			v := newVerifier(t, doc, []string{certDir}, Options{})
			r := verify(t, v, subjectIn(repo), sig)
			checkReport(t, r, tc.wantOK, tc.wantMessage, tc.wantReason)
		})
	}
}

func TestVerifyExtensions(t *testing.T) {
	root, certDir := newRoot(t)
	leaf := newLeaf(t, root, testpki.CertOptions{Subject: pkix.Name{
		Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Contoso"}, CommonName: "release signer",
	}})
	v := newVerifier(t, policy(), []string{certDir}, Options{})
	r := verify(t, v, subjectIn("demo"), sign(t, leaf, image, testpki.SignOptions{}))
	want := map[string]any{
		"Issuer":       root.Cert.Subject.String(),
		"SN":           "CN=release signer,O=Contoso,ST=WA,C=US",
		"serialNumber": leaf.Cert.SerialNumber.Text(16),
	}
	if !r.IsSuccess || len(r.Extensions) != len(want) {
		t.Fatalf("report %+v, want success with extensions %v", r, want)
	}
	for k, w := range want {
		if r.Extensions[k] != w {
			t.Errorf("Extensions[%q] = %v, want %v", k, r.Extensions[k], w)
		}
	}
}

func TestVerifyContentProblems(t *testing.T) {
	root, certDir := newRoot(t)
	sig := sign(t, newLeaf(t, root, testpki.CertOptions{}), image, testpki.SignOptions{})
	v := newVerifier(t, policy(), []string{certDir}, Options{})
	layer := sig.EnvelopeDescriptor

	manifest := func(layers ...ocispec.Descriptor) []byte {
		b, err := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.DescriptorEmptyJSON, Layers: layers})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name       string
		manifest   []byte
		wantReason string
	}{
		{"garbage manifest", []byte("\x00not json{"), "manifest does not parse"},
		{"JSON of the wrong shape", []byte(`{"layers":"yes"}`), "manifest does not parse"},
		{"index instead of manifest", []byte(`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), "not an OCI image manifest"},
		{"zero layers", manifest(), "manifest has 0 layers"},
		{"two layers", manifest(layer, layer), "manifest has 2 layers"},
		{"unknown envelope type", manifest(ocispec.Descriptor{MediaType: "application/pgp-signature", Digest: layer.Digest, Size: layer.Size}),
			`envelope media type "application/pgp-signature"`},
		{"oversized envelope", manifest(ocispec.Descriptor{MediaType: layer.MediaType, Digest: layer.Digest, Size: 1 << 40}), "envelope size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(tc.manifest), Size: int64(len(tc.manifest))}
			content := memFetcher(sig.Contents())
			content[desc.Digest] = tc.manifest
			r, err := v.Verify(context.Background(), subjectIn("demo"), desc, content)
			if err != nil {
				t.Fatalf("Verify: %v, want a failed report", err)
			}
			checkReport(t, r, false, "not a Notary Project signature manifest", tc.wantReason)
		})
	}

	t.Run("artifact manifest", func(t *testing.T) {
		raw, err := json.Marshal(map[string]any{"mediaType": mediaTypeArtifactManifest, "blobs": []ocispec.Descriptor{layer}})
		if err != nil {
			t.Fatal(err)
		}
		desc := ocispec.Descriptor{MediaType: mediaTypeArtifactManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
		content := memFetcher(sig.Contents())
		content[desc.Digest] = raw
		r, err := v.Verify(context.Background(), subjectIn("demo"), desc, content)
		if err != nil || !r.IsSuccess {
			t.Errorf("Verify = %+v, %v; want success", r, err)
		}
	})
}

func TestVerifyFetchErrors(t *testing.T) {
	root, certDir := newRoot(t)
	sig := sign(t, newLeaf(t, root, testpki.CertOptions{}), image, testpki.SignOptions{})
	v := newVerifier(t, policy(), []string{certDir}, Options{})
	for _, fail := range []digest.Digest{sig.ManifestDescriptor.Digest, sig.EnvelopeDescriptor.Digest} {
		f := failingFetcher{memFetcher: sig.Contents(), fail: fail}
		r, err := v.Verify(context.Background(), subjectIn("demo"), sig.ManifestDescriptor, f)
		if !errors.Is(err, errFetch) {
			t.Errorf("fetch of %s fails: Verify = %+v, %v; want an error wrapping the fetcher's", fail, r, err)
		}
	}
}

func TestVerifyCanceled(t *testing.T) {
	root, certDir := newRoot(t)
	r, err := testpki.NewOCSPResponder(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sig := sign(t, newLeaf(t, root, testpki.CertOptions{OCSPServer: r.URL}), image, testpki.SignOptions{})
	v := newVerifier(t, policy(), []string{certDir}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	report, err := v.Verify(ctx, subjectIn("demo"), sig.ManifestDescriptor, memFetcher(sig.Contents()))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a canceled context = %+v, %v; want context.Canceled", report, err)
	}
}

func TestVerifierIdentity(t *testing.T) {
	_, certDir := newRoot(t)
	v, err := New(Config{VerificationCerts: []string{certDir}, TrustPolicyDoc: policy(), NestedReferences: []string{"application/spdx+json"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Name() != "notation" || v.Type() != "notation" {
		t.Errorf("Name, Type = %q, %q", v.Name(), v.Type())
	}
	if !v.CanVerify(ArtifactTypeSignature) || v.CanVerify("application/spdx+json") {
		t.Error("CanVerify: want only the Notary Project signature type by default")
	}
	if got := v.NestedReferences(); len(got) != 1 || got[0] != "application/spdx+json" {
		t.Errorf("NestedReferences = %v", got)
	}
	all, err := New(Config{ArtifactTypes: []string{"*"}, VerificationCerts: []string{certDir}, TrustPolicyDoc: policy()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !all.CanVerify("application/spdx+json") || !all.CanVerify(ArtifactTypeSignature) {
		t.Error(`CanVerify with artifactTypes "*": want every type`)
	}
}
