package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// trustedConfig writes a valid config trusting a new root CA.
func trustedConfig(t *testing.T) string {
	t.Helper()
	root, _ := newSigner(t)
	return writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}})
}

func TestVerifyMalformedReference(t *testing.T) {
	config := trustedConfig(t)
	for _, ref := range []string{
		"BAD//ref@@x",
		"UPPER/Case:v1",
		"127.0.0.1:5000/app@sha256:1234",
		"127.0.0.1:5000/app:bad tag!",
		"",
	} {
		t.Run(ref, func(t *testing.T) {
			wantCouldNotVerify(t, ratify(t, "verify", "-s", ref, "-c", config), "invalid reference", "give an image reference")
		})
	}
}

// unusedPort returns a loopback address nothing listens on: a port the
// kernel handed out and that was closed again.
func unusedPort(t *testing.T) string {
	t.Helper()
	ln := must(net.Listen("tcp", "127.0.0.1:0"))(t)
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestVerifyUnknownRegistry(t *testing.T) {
	config := trustedConfig(t)
	for _, host := range []string{unusedPort(t), "nonexistent.invalid"} {
		t.Run(host, func(t *testing.T) {
			o := ratify(t, "verify", "-s", host+"/app:v1", "-c", config)
			wantCouldNotVerify(t, o, "registry unavailable", host)
		})
	}
}

func TestDiscoverPlainHTTPWithoutFlag(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	_, ref := pushImage(t, r, "app")
	wantCouldNotVerify(t, ratify(t, "discover", "-s", ref), r.Host())
}

func TestVerifyGarbageSubjectManifest(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		signed(t, r, k, "app")
		config := trustedConfig(t)
		garbage := []byte("\x00\x01 this is not a manifest {{{")
		for _, method := range []string{http.MethodHead, http.MethodGet} {
			r.Inject(testregistry.Fault{Method: method, Kind: testregistry.KindManifest, Reference: "v1",
				Header: http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}, Body: garbage})
		}
		o := ratify(t, "verify", "-s", r.Host()+"/app:v1", "-c", config)
		wantCouldNotVerify(t, o, "invalid content")
	})
}

// TestVerifyOversizedSignatureManifest lists a 10 MiB signature manifest
// (ratify accepts 4 MiB). The registry with the referrers API takes the
// push; distribution refuses manifests over 4 MiB (and indexes of manifests
// it does not hold), so there the registry serves the referrers tag
// schema's index and the manifest through fault injection.
func TestVerifyOversizedSignatureManifest(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		subject, ref := pushImage(t, r, "big")
		envelope := r.PushBlob(t, "big", "application/jose+json", []byte(`{"payload":"x"}`))
		config := r.PushBlob(t, "big", notationType, []byte("{}"))
		m := ocispec.Manifest{
			MediaType:   ocispec.MediaTypeImageManifest,
			Config:      config,
			Layers:      []ocispec.Descriptor{envelope},
			Subject:     &subject,
			Annotations: map[string]string{"padding": strings.Repeat("x", 10<<20)},
		}
		m.SchemaVersion = 2
		data := must(json.Marshal(m))(t)
		sig := content.NewDescriptorFromBytes(m.MediaType, data)
		if k.referrers {
			r.PushManifest(t, "big", "", m.MediaType, data)
		} else {
			sig.ArtifactType = notationType
			index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{sig}}
			index.SchemaVersion = 2
			r.Inject(testregistry.Fault{Kind: testregistry.KindManifest, Reference: referrersTag(subject.Digest),
				Header: http.Header{"Content-Type": {index.MediaType}}, Body: must(json.Marshal(index))(t)})
			r.Inject(testregistry.Fault{Kind: testregistry.KindManifest, Reference: sig.Digest.String(),
				Header: http.Header{"Content-Type": {m.MediaType}}, Body: data})
		}
		if sigs := signatureManifests(t, r, k, "big", subject.Digest); len(sigs) != 1 || sigs[0] != sig.Digest {
			t.Fatalf("registry lists %v, want the %d-byte manifest %s", sigs, len(data), sig.Digest)
		}
		o := ratify(t, "verify", "-s", ref, "-c", trustedConfig(t))
		wantCouldNotVerify(t, o, "size exceeds limit")
	})
}

// TestVerifySignatureManifestLargerThanListed has the registry answer a
// 10 MiB body for a signature manifest it lists as small.
func TestVerifySignatureManifestLargerThanListed(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, root, _ := signed(t, r, k, "app")
		config := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}})
		sig := signatureManifests(t, r, k, "app", digestOf(ref))[0]
		r.Inject(testregistry.Fault{Kind: testregistry.KindManifest, Reference: sig.String(),
			Header: http.Header{"Content-Type": {ocispec.MediaTypeImageManifest}}, Body: bytes.Repeat([]byte("x"), 10<<20)})
		o := ratify(t, "verify", "-s", ref, "-c", config)
		wantCouldNotVerify(t, o, "size exceeds limit", sig.String())
	})
}

// TestVerifyReferrersUnavailable makes the listing of a signed image's
// referrers fail with 503: the referrers API on a registry that has it, the
// referrers tag schema's index on one that does not. "Could not verify"
// (2) must never become "unsigned" (1).
func TestVerifyReferrersUnavailable(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, root, _ := signed(t, r, k, "app")
		config := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}})
		verify(t, ref, config, exitPassed)

		fault := testregistry.Fault{Method: http.MethodGet, Kind: testregistry.KindReferrers, Status: http.StatusServiceUnavailable}
		if !k.referrers {
			fault.Kind, fault.Reference = testregistry.KindManifest, referrersTag(digestOf(ref))
		}
		r.Inject(fault)
		r.Reset()
		o := ratify(t, "verify", "-s", ref, "-c", config)
		wantCouldNotVerify(t, o, "registry unavailable", "503")
		if n := r.Count(http.MethodGet, fault.Kind); n < 2 {
			t.Errorf("%d GET %s requests; want the 503 retried", n, fault.Kind)
		}
	})
}
