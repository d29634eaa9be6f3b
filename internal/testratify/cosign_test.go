package testratify

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/openratify/ratify/internal/testregistry"
)

// Media types and annotations cosign v2.6 writes (sigstore/cosign
// pkg/types, pkg/oci/remote; protobuf-specs' bundle v0.3).
const (
	simpleSigningType = "application/vnd.dev.cosign.simplesigning.v1+json"
	signatureKey      = "dev.cosignproject.cosign/signature"
	cosignSigArtifact = "application/vnd.dev.cosign.artifact.sig.v1+json"
	bundleType        = "application/vnd.dev.sigstore.bundle.v0.3+json"
	inTotoType        = "application/vnd.in-toto+json"
	cosignPredicate   = "https://sigstore.dev/cosign/sign/v1"
	simpleSigningKind = "cosign container image signature"
)

func cosignBin(t *testing.T) string {
	t.Helper()
	bin, err := CosignCLI()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestCosign signs an image in each form cosign offers, in a registry with
// and one without the referrers API, reads back what cosign stored and
// checks its shape and signature, then has `cosign verify` check it offline
// with the signing key and with another key.
func TestCosign(t *testing.T) {
	bin := cosignBin(t)
	for _, referrers := range []bool{true, false} {
		for _, form := range []CosignForm{CosignTag, CosignReferrer, CosignBundle} {
			t.Run(fmt.Sprintf("%s/referrers-api=%t", form, referrers), func(t *testing.T) {
				t.Parallel()
				c := NewCosign(t, bin)
				key, other := c.GenerateKeyPair("signer"), c.GenerateKeyPair("other")
				reg := testregistry.New(t, testregistry.Options{Referrers: referrers})
				subject := reg.PushImage(t, "app", "v1")
				ref := reg.Reference("app", subject.Digest.String()).String()
				c.Sign(key, ref, form)

				s := stored{t: t, repo: repository(t, reg), subject: subject, pub: publicKey(t, key)}
				switch form {
				case CosignTag:
					s.checkTag()
				case CosignReferrer:
					s.checkReferrer(referrers)
				case CosignBundle:
					s.checkBundle(referrers)
				}

				r := c.Verify(key, ref, form)
				if r.Err != nil {
					t.Fatalf("verify with the signing key: %s", r)
				}
				checkVerified(t, r, subject, form)
				var exit *exec.ExitError
				if r := c.Verify(other, ref, form); !errors.As(r.Err, &exit) {
					t.Errorf("verify with another key: want a failed exit, got %s", r)
				}
			})
		}
	}
}

// TestCosignEgressTrap checks that the trap sees cosign reach out: without
// --trusted-root, `cosign verify` asks Sigstore's TUF repository for one.
func TestCosignEgressTrap(t *testing.T) {
	c := NewCosign(t, cosignBin(t))
	key := c.GenerateKeyPair("signer")
	reg := testregistry.New(t, testregistry.Options{Referrers: true})
	subject := reg.PushImage(t, "app", "v1")
	ref := reg.Reference("app", subject.Digest.String()).String()
	c.Sign(key, ref, CosignTag)
	r := c.Run(nil, "verify", "--allow-http-registry", "--insecure-ignore-tlog=true", "--key", key.Public, ref)
	if len(r.Egress) == 0 || !strings.HasPrefix(r.Egress[0], "CONNECT ") {
		t.Fatalf("want a CONNECT through the trap, got %q: %s", r.Egress, r)
	}
}

// stored reads back what cosign pushed for subject.
type stored struct {
	t       *testing.T
	repo    *remote.Repository
	subject ocispec.Descriptor
	pub     *ecdsa.PublicKey
}

func repository(t *testing.T, reg *testregistry.Registry) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(reg.Host() + "/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}

func publicKey(t *testing.T, key CosignKey) *ecdsa.PublicKey {
	t.Helper()
	data, err := os.ReadFile(key.Public)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("%s: no PEM PUBLIC KEY in %q", key.Public, data)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("%s: %T, want an ECDSA key", key.Public, pub)
	}
	return ecPub
}

// fetch fetches desc, checking its size and digest, and decodes it into v.
func (s stored) fetch(desc ocispec.Descriptor, v any) []byte {
	s.t.Helper()
	data, err := content.FetchAll(context.Background(), s.repo, desc)
	if err != nil {
		s.t.Fatalf("fetch %s: %v", desc.Digest, err)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			s.t.Fatalf("decode %s: %v\n%s", desc.Digest, err, data)
		}
	}
	return data
}

// tags returns the repository's tags other than the image's own.
func (s stored) tags() []string {
	s.t.Helper()
	var tags []string
	err := s.repo.Tags(context.Background(), "", func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return slices.DeleteFunc(tags, func(tag string) bool { return tag == "v1" })
}

// referrers lists the subject's referrers (the API, or the tag schema).
func (s stored) referrers() []ocispec.Descriptor {
	s.t.Helper()
	var all []ocispec.Descriptor
	err := s.repo.Referrers(context.Background(), s.subject, "", func(page []ocispec.Descriptor) error {
		all = append(all, page...)
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return all
}

// schemaTag is the referrers tag schema's tag for the subject, and
// schemaTag+".sig" cosign's signature tag.
func (s stored) schemaTag() string { return strings.Replace(s.subject.Digest.String(), ":", "-", 1) }

func (s stored) checkTag() {
	s.t.Helper()
	if tags := s.tags(); !slices.Equal(tags, []string{s.schemaTag() + ".sig"}) {
		s.t.Fatalf("tags %q, want only %s.sig", tags, s.schemaTag())
	}
	if refs := s.referrers(); len(refs) != 0 {
		s.t.Errorf("tag form attached referrers: %v", refs)
	}
	desc, err := s.repo.Resolve(context.Background(), s.schemaTag()+".sig")
	if err != nil {
		s.t.Fatal(err)
	}
	var m ocispec.Manifest
	s.fetch(desc, &m)
	if desc.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ocispec.MediaTypeImageConfig || m.Subject != nil {
		s.t.Errorf("manifest %s, config %s, subject %v: want an image manifest with an image config and no subject",
			desc.MediaType, m.Config.MediaType, m.Subject)
	}
	s.checkSimpleSigning(m)
}

func (s stored) checkReferrer(api bool) {
	s.t.Helper()
	m := s.onlyReferrer(cosignSigArtifact, api)
	if m.Config.MediaType != cosignSigArtifact {
		s.t.Errorf("config media type %s, want %s", m.Config.MediaType, cosignSigArtifact)
	}
	s.checkSimpleSigning(m)
}

// onlyReferrer checks that the subject has one referrer, of artifactType,
// found through the API or (api false) the referrers tag schema, whose index
// lists it with listed as its artifactType; it returns its manifest.
func (s stored) onlyReferrer(listed string, api bool) ocispec.Manifest {
	s.t.Helper()
	want := []string{}
	if !api {
		want = []string{s.schemaTag()}
	}
	if tags := s.tags(); !slices.Equal(tags, want) {
		s.t.Errorf("tags %q, want %q", tags, want)
	}
	refs := s.referrers()
	if len(refs) != 1 {
		s.t.Fatalf("%d referrers, want 1: %v", len(refs), refs)
	}
	if refs[0].MediaType != ocispec.MediaTypeImageManifest || refs[0].ArtifactType != listed {
		s.t.Errorf("referrer listed as %s of artifactType %s, want an image manifest of %s",
			refs[0].MediaType, refs[0].ArtifactType, listed)
	}
	var m ocispec.Manifest
	s.fetch(refs[0], &m)
	if m.Subject == nil || m.Subject.Digest != s.subject.Digest {
		s.t.Errorf("subject %v, want %s", m.Subject, s.subject.Digest)
	}
	return m
}

// checkSimpleSigning checks m's single layer: a simple signing payload for
// the subject whose ECDSA signature (base64 DER, in the layer annotation)
// verifies with the key.
func (s stored) checkSimpleSigning(m ocispec.Manifest) {
	s.t.Helper()
	if len(m.Layers) != 1 || m.Layers[0].MediaType != simpleSigningType {
		s.t.Fatalf("layers %v, want one %s", m.Layers, simpleSigningType)
	}
	var payload struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	data := s.fetch(m.Layers[0], &payload)
	if c := payload.Critical; c.Image.DockerManifestDigest != s.subject.Digest.String() ||
		c.Type != simpleSigningKind || c.Identity.DockerReference != s.repo.Reference.Registry+"/app" {
		s.t.Errorf("simple signing payload %s does not name %s", data, s.subject.Digest)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[signatureKey])
	if err != nil || len(sig) == 0 {
		s.t.Fatalf("annotation %s = %q: %v", signatureKey, m.Layers[0].Annotations[signatureKey], err)
	}
	digest := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(s.pub, digest[:], sig) {
		s.t.Error("the layer's signature does not verify with the public key")
	}
}

func (s stored) checkBundle(api bool) {
	s.t.Helper()
	// The referrers API lists the manifest's artifactType. go-containerregistry,
	// which writes the referrers tag schema's index for cosign, lists the
	// config's media type instead.
	listed := bundleType
	if !api {
		listed = ocispec.MediaTypeEmptyJSON
	}
	m := s.onlyReferrer(listed, api)
	if m.ArtifactType != bundleType || m.Config.MediaType != ocispec.MediaTypeEmptyJSON {
		s.t.Errorf("artifactType %s, config %s: want %s, %s", m.ArtifactType, m.Config.MediaType, bundleType, ocispec.MediaTypeEmptyJSON)
	}
	if a := m.Annotations; a["dev.sigstore.bundle.content"] != "dsse-envelope" || a["dev.sigstore.bundle.predicateType"] != cosignPredicate {
		s.t.Errorf("annotations %v", a)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != bundleType {
		s.t.Fatalf("layers %v, want one %s", m.Layers, bundleType)
	}
	var b struct {
		MediaType            string `json:"mediaType"`
		VerificationMaterial struct {
			PublicKey   *struct{ Hint string } `json:"publicKey"`
			TlogEntries []json.RawMessage      `json:"tlogEntries"`
		} `json:"verificationMaterial"`
		MessageSignature json.RawMessage `json:"messageSignature"`
		DSSEEnvelope     *struct {
			Payload     []byte `json:"payload"`
			PayloadType string `json:"payloadType"`
			Signatures  []struct {
				Sig []byte `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	data := s.fetch(m.Layers[0], &b)
	der, err := x509.MarshalPKIXPublicKey(s.pub)
	if err != nil {
		s.t.Fatal(err)
	}
	hint := sha256.Sum256(der)
	vm := b.VerificationMaterial
	if b.MediaType != bundleType || vm.PublicKey == nil || vm.PublicKey.Hint != base64.StdEncoding.EncodeToString(hint[:]) ||
		len(vm.TlogEntries) != 0 || b.MessageSignature != nil || b.DSSEEnvelope == nil {
		s.t.Fatalf("bundle is not a v0.3 DSSE bundle with the key's hint and no log entry:\n%s", data)
	}
	env := b.DSSEEnvelope
	var st struct {
		Type    string `json:"_type"`
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		s.t.Fatalf("DSSE payload: %v\n%s", err, env.Payload)
	}
	if env.PayloadType != inTotoType || st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != cosignPredicate ||
		len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != s.subject.Digest.Encoded() {
		s.t.Errorf("DSSE payload (%s) is not a cosign statement about %s:\n%s", env.PayloadType, s.subject.Digest, env.Payload)
	}
	// DSSE signs its pre-authentication encoding (DSSE v1 protocol).
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(env.PayloadType), env.PayloadType, len(env.Payload), env.Payload)
	digest := sha256.Sum256([]byte(pae))
	if len(env.Signatures) != 1 || !ecdsa.VerifyASN1(s.pub, digest[:], env.Signatures[0].Sig) {
		s.t.Errorf("want one DSSE signature that verifies with the public key, got %d", len(env.Signatures))
	}
}

// checkVerified checks what `cosign verify` printed: one verified claim
// about subject.
func checkVerified(t *testing.T, r CosignRun, subject ocispec.Descriptor, form CosignForm) {
	t.Helper()
	var claims []struct {
		Critical struct {
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &claims); err != nil {
		t.Fatalf("verify output: %v\n%s", err, r)
	}
	kind := simpleSigningKind
	if form == CosignBundle {
		kind = cosignPredicate
	}
	if len(claims) != 1 || claims[0].Critical.Image.DockerManifestDigest != subject.Digest.String() || claims[0].Critical.Type != kind {
		t.Errorf("verify output is not one %q claim about %s: %s", kind, subject.Digest, r)
	}
}
