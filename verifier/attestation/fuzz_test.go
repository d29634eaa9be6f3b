package attestation

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzAttestationParsing feeds arbitrary bytes to every parser of what a
// registry serves: bare DSSE envelopes, Sigstore bundles, and in-toto
// statements (signed with a trusted key, so that they reach the predicate
// checks and the Rego policy). None may panic; the content was read, so
// the verifier answers with a report, never an error; and what passes is
// a statement about the image of an accepted predicate type.
func FuzzAttestationParsing(f *testing.F) {
	k := newKey(f, "ecdsa-p256")
	s := newSigstore(f)
	prov := statementJSON(f, image.Digest, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef))
	vuln := statementJSON(f, image.Digest, vulnType, vulnReport("pkg:github/aquasecurity/trivy", 0))
	f.Add(k.envelope(f, prov), k.bundle(f, prov), prov)
	f.Add(k.envelope(f, vuln), s.attest(f, workflowIdentity, vuln, bundleParts{}), vuln)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":""}]}`),
		[]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`), []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
	f.Add([]byte(`null`), []byte(`{}`), []byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"digest":{"sha256":1}}],"predicateType":"x"}`))

	cfg := keyConfig([]string{k.file}, slsaPolicy, Predicate{PredicateType: vulnType, Rego: vulnPolicy}, Predicate{PredicateType: "https://example.com/any"})
	cfg.Keyless = &Keyless{CertificateIdentity: workflowIdentity, CertificateOIDCIssuer: actionsIssuer, CTLogVerify: ptr(false)}
	cfg.TrustedRootFile, cfg.TLogVerify = s.rootFile, ptr(false)
	v := newVerifier(f, cfg, Options{})
	f.Fuzz(func(t *testing.T, envelopeJSON, bundleJSON, payload []byte) {
		for _, l := range []layer{{MediaTypeDSSE, envelopeJSON}, {ArtifactTypeBundle, bundleJSON}} {
			desc := ocispec.Descriptor{MediaType: l.mediaType, Digest: digest.FromBytes(l.blob), Size: int64(len(l.blob))}
			e := parseLayer(desc, l.blob, image.Digest)
			if e.problem == "" && (e.statement == nil || !e.statement.about(image.Digest) || (e.raw == nil) == (e.bundle == nil)) {
				t.Fatalf("accepted %s without a statement about the image: %+v", l.mediaType, e)
			}
		}
		check := func(name string, desc ocispec.Descriptor, f *memFetcher) {
			r, err := v.Verify(context.Background(), subject, desc, f)
			if err != nil {
				t.Fatalf("%s: Verify: %v", name, err)
			}
			if !r.IsSuccess && r.ErrorReason == "" {
				t.Fatalf("%s: failed report without a reason", name)
			}
			for _, st := range statements(t, r) {
				if st.IsSuccess && (st.Signer == nil || st.Policy == "") {
					t.Fatalf("%s: statement passed without a signer or policy: %+v", name, st)
				}
			}
		}
		if len(envelopeJSON) > 0 {
			desc, fetcher := inToto(t, envelopeJSON)
			check("envelope", desc, fetcher)
		}
		if len(bundleJSON) > 0 {
			desc, fetcher := bundled(t, bundleJSON)
			check("bundle", desc, fetcher)
		}
		desc, fetcher := inToto(t, k.envelope(t, payload))
		r, err := v.Verify(context.Background(), subject, desc, fetcher)
		if err != nil {
			t.Fatalf("signed payload: Verify: %v", err)
		}
		if r.IsSuccess {
			st, problem := parseStatement(payload)
			if problem != "" || !st.about(image.Digest) || v.policyFor(st.PredicateType) == nil {
				t.Fatalf("passed statement %q", payload)
			}
		}
	})
}
