package e2e

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// TestNotationStorage records how notation 1.3.2 stores a signature on
// each kind of registry, with its default (--force-referrers-tag, true)
// and with --force-referrers-tag=false, and that ratify finds it each time.
func TestNotationStorage(t *testing.T) {
	for _, k := range registryKinds {
		for _, forceTag := range []bool{true, false} {
			name := k.name + "/force-referrers-tag=false"
			if forceTag {
				name = k.name + "/default"
			}
			t.Run(name, func(t *testing.T) {
				r := testregistry.New(t, testregistry.Options{Referrers: k.referrers})
				root, signer := newSigner(t)
				n := newNotation(t)
				n.AddKey("e2e", signer)
				subject, ref := pushImage(t, r, "app")
				var flags []string
				if !forceTag {
					flags = []string{"--force-referrers-tag=false"}
				}
				n.Sign("e2e", ref, flags...)

				// notation writes a referrers tag schema index unless it
				// may use the referrers API and the registry has one.
				listings := map[string][]ocispec.Descriptor{}
				index := listReferrers(t, r, registryKind{referrers: false}, "app", subject.Digest)
				if wantIndex := forceTag || !k.referrers; (index != nil) != wantIndex {
					t.Errorf("index under the tag %s: %v, want one: %v", referrersTag(subject.Digest), index, wantIndex)
				} else if index != nil {
					listings["the referrers tag schema index"] = index
				}
				if k.referrers {
					listings["the referrers API"] = listReferrers(t, r, k, "app", subject.Digest)
				}
				var sigs []ocispec.Descriptor
				for where, list := range listings {
					if len(list) != 1 || list[0].ArtifactType != notationType || (len(sigs) > 0 && list[0].Digest != sigs[0].Digest) {
						t.Fatalf("%s lists %+v, want the one signature", where, list)
					}
					sigs = append(sigs, list[0])
				}
				if len(sigs) == 0 {
					t.Fatal("the registry lists no signature")
				}
				wantSignatureManifest(t, r, "app", sigs[0], subject)

				res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}}), exitPassed)
				wantReports(t, res, 1)
				wantSignedBy(t, res.VerifierReports[0], sigs[0].Digest.String(), signer, root)
			})
		}
	}
}

// wantSignatureManifest checks that sig is a Notary Project signature
// manifest of subject as notation 1.3.2 writes it (signature
// specification, "Storage"): an OCI image manifest without an artifactType
// field whose config, the empty JSON object, has the media type
// application/vnd.cncf.notary.signature (registries and clients derive the
// artifact type from it), and one JWS envelope layer.
func wantSignatureManifest(t *testing.T, r *testregistry.Registry, repo string, sig, subject ocispec.Descriptor) {
	t.Helper()
	status, body := registryGet(t, r, "/v2/"+repo+"/manifests/"+sig.Digest.String(), ocispec.MediaTypeImageManifest)
	if status != http.StatusOK {
		t.Fatalf("GET signature manifest: %d %s", status, body)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != "" ||
		m.Config.MediaType != notationType || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != testpki.MediaTypeJWS || m.Subject == nil || m.Subject.Digest != subject.Digest {
		t.Errorf("signature manifest = %s", body)
	}
}

// TestVerifyRequestCount counts the requests of one cold `ratify verify` of
// a digest reference with one signature, on either kind of registry. It
// must not exceed the 4 requests the store's own tests (store/registry
// TestRoundTrip) established.
func TestVerifyRequestCount(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, root, _ := signed(t, r, k, "counted")
		config := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}})
		r.Reset()
		verify(t, ref, config, exitPassed)
		n, limit := r.Total(), 4
		t.Logf("cold verify of a digest reference: %d requests %v", n, r.Counts())
		if n > limit {
			t.Errorf("%d requests, want at most %d: %v", n, limit, r.Counts())
		}
	})
}

func TestVerifyArtifactTypeFilter(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		root, signer := newSigner(t)
		n := newNotation(t)
		n.AddKey("e2e", signer)
		subject, ref := pushImage(t, r, "filtered")
		n.Sign("e2e", ref, storeFlags(k)...)
		r.PushArtifact(t, "filtered", testregistry.Artifact{
			ArtifactType: sbomType, Subject: &subject,
			LayerMediaType: sbomType, Layer: []byte(`{"spdxVersion":"SPDX-2.3"}`),
		})
		if got := listReferrers(t, r, k, "filtered", subject.Digest); len(got) != 2 {
			t.Fatalf("registry lists %d referrers, want 2", len(got))
		}
		config := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}})

		for _, tc := range []struct {
			types   []string
			exit    int
			reports int
		}{
			{nil, exitPassed, 1}, // no verifier handles the SBOM: no report
			{[]string{notationType}, exitPassed, 1},
			{[]string{sbomType, notationType}, exitPassed, 1},
			{[]string{sbomType}, exitFailed, 0}, // no report at all fails
		} {
			var args []string
			for _, typ := range tc.types {
				args = append(args, "-t", typ)
			}
			res := verify(t, ref, config, tc.exit, args...)
			wantReports(t, res, tc.reports)
			if tc.reports == 1 && !slices.ContainsFunc(res.VerifierReports, func(r report) bool { return r.ArtifactType == notationType }) {
				t.Errorf("-t %v: reports %+v, want the signature's", tc.types, res.VerifierReports)
			}
		}
	})
}
