package cosign

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/opencontainers/go-digest"
)

// Identities the virtual Sigstore issues certificates to.
const (
	signerIdentity = "signer@example.com"
	signerIssuer   = "https://issuer.example.com"
)

// sigstore is sigstore-go's virtual Sigstore (a Fulcio CA, a Rekor log, a
// CT log and a timestamp authority, in memory) and its trusted root as a
// trusted_root.json file, whose content is rootJSON.
type sigstore struct {
	*ca.VirtualSigstore
	rootFile string
	rootJSON []byte
}

func newSigstore(t testing.TB) *sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	// The virtual Sigstore keeps log IDs as hex text; a trusted root
	// keeps the raw key IDs the log entries name.
	rawIDs := func(logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
		out := map[string]*root.TransparencyLog{}
		for k, l := range logs {
			c := *l
			if c.ID, err = hex.DecodeString(string(l.ID)); err != nil {
				t.Fatal(err)
			}
			out[k] = &c
		}
		return out
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), rawIDs(vs.CTLogs()),
		vs.TimestampingAuthorities(), rawIDs(vs.RekorLogs()))
	if err != nil {
		t.Fatal(err)
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return &sigstore{VirtualSigstore: vs, rootFile: file, rootJSON: data}
}

// keylessPolicy trusts signerIdentity and signerIssuer through s's trusted
// root, without SCTs (the virtual Fulcio embeds none); mods adjust it.
func (s *sigstore) keylessPolicy(mods ...func(*TrustPolicy)) TrustPolicy {
	p := TrustPolicy{
		Name:            "keyless",
		Scopes:          []string{"127.0.0.1:5000/demo"},
		Keyless:         &Keyless{CertificateIdentity: signerIdentity, CertificateOIDCIssuer: signerIssuer, CTLogVerify: ptr(false)},
		TrustedRootFile: s.rootFile,
	}
	for _, m := range mods {
		m(&p)
	}
	return p
}

// inclusionPromise is the log's signed entry timestamp over tle.
func (s *sigstore) inclusionPromise(t testing.TB, tle *protorekor.TransparencyLogEntry) []byte {
	t.Helper()
	set, err := s.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// rekorBundleAnnotation is cosign's dev.sigstore.cosign/bundle annotation
// for tle, with its inclusion promise signed by s's log.
func (s *sigstore) rekorBundleAnnotation(t testing.TB, tle *protorekor.TransparencyLogEntry) string {
	t.Helper()
	b := map[string]any{
		"SignedEntryTimestamp": s.inclusionPromise(t, tle),
		"Payload": map[string]any{
			"body":           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
			"integratedTime": tle.GetIntegratedTime(),
			"logIndex":       tle.GetLogIndex(),
			"logID":          hex.EncodeToString(tle.GetLogId().GetKeyId()),
		},
	}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// legacyParts say which annotations a keyless cosign layer gets.
type legacyParts struct {
	noBundle, timestamp, noChain bool
	// bundleFrom, when set, supplies the Rekor entry instead of the
	// signing itself.
	bundleFrom *ca.TestEntity
}

// keylessLayer signs payload as cosign sign does keyless: a Fulcio
// certificate for identity and issuer, a hashedrekord entry in Rekor, and
// the layer annotations that carry them.
func (s *sigstore) keylessLayer(t testing.TB, identity, issuer string, payload []byte, parts legacyParts) map[string]string {
	t.Helper()
	ent, err := s.Sign(identity, issuer, payload)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	leaf, err := cryptoutils.MarshalCertificateToPEM(vc.Certificate())
	if err != nil {
		t.Fatal(err)
	}
	a := map[string]string{
		AnnotationSignature:   base64.StdEncoding.EncodeToString(sc.Signature()),
		AnnotationCertificate: string(leaf),
	}
	if !parts.noChain {
		fca := s.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority)
		chain, err := cryptoutils.MarshalCertificatesToPEM(append(fca.Intermediates, fca.Root))
		if err != nil {
			t.Fatal(err)
		}
		a[AnnotationChain] = string(chain)
	}
	if !parts.noBundle {
		from := ent
		if parts.bundleFrom != nil {
			from = parts.bundleFrom
		}
		entries, _ := from.TlogEntries()
		a[AnnotationBundle] = s.rekorBundleAnnotation(t, entries[0].TransparencyLogEntry())
	}
	if parts.timestamp {
		ts, _ := ent.Timestamps()
		raw, _ := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": ts[0]})
		a[AnnotationRFC3161Timestamp] = string(raw)
	}
	return a
}

// keylessSigned is a signature manifest with one keyless layer.
func (s *sigstore) keylessSigned(t testing.TB, identity, issuer string, parts legacyParts) *sigManifest {
	p := simpleSigningPayload(t, image.Digest)
	m := &sigManifest{artifactType: ArtifactTypeSignature}
	m.add(MediaTypeSimpleSigning, p, s.keylessLayer(t, identity, issuer, p, parts))
	return m
}

// statement is an in-toto statement v1 about subject.
func statement(subject digest.Digest, predicateType string) []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"127.0.0.1:5000/demo","digest":{"` +
		subject.Algorithm().String() + `":"` + subject.Encoded() + `"}}],"predicateType":"` + predicateType + `","predicate":{}}`)
}

// bundleParts say how a test bundle is put together.
type bundleParts struct {
	mediaType string
	// noProof leaves out the inclusion proof (bundle v0.1 needs only the
	// promise); noPromise the signed entry timestamp.
	noProof, noPromise bool
	// entryFrom, when set, supplies the log entry.
	entryFrom *ca.TestEntity
}

// bundleJSON turns a signing by the virtual Sigstore into a Sigstore
// bundle, as cosign --new-bundle-format stores it.
func (s *sigstore) bundleJSON(t testing.TB, ent *ca.TestEntity, parts bundleParts) []byte {
	t.Helper()
	if parts.mediaType == "" {
		parts.mediaType = ArtifactTypeBundle
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	from := ent
	if parts.entryFrom != nil {
		from = parts.entryFrom
	}
	entries, _ := from.TlogEntries()
	tle := proto.Clone(entries[0].TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
	kind := "hashedrekord"
	if sc.EnvelopeContent() != nil {
		kind = "dsse"
	}
	tle.KindVersion = &protorekor.KindVersion{Kind: kind, Version: "0.0.1"}
	if !parts.noPromise {
		tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: s.inclusionPromise(t, tle)}
	}
	if parts.noProof {
		tle.InclusionProof = nil
	} else if tle.InclusionProof == nil {
		p, err := s.GetInclusionProof(tle.GetCanonicalizedBody())
		if err != nil {
			t.Fatal(err)
		}
		rootHash, _ := hex.DecodeString(*p.RootHash)
		tle.InclusionProof = &protorekor.InclusionProof{LogIndex: *p.LogIndex, RootHash: rootHash, TreeSize: *p.TreeSize,
			Checkpoint: &protorekor.Checkpoint{Envelope: *p.Checkpoint}}
	}
	ts, _ := ent.Timestamps()
	b := &protobundle.Bundle{
		MediaType: parts.mediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			TlogEntries:               []*protorekor.TransparencyLogEntry{tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts[0]}}},
		},
	}
	if strings.Contains(parts.mediaType, "version=0.1") || strings.Contains(parts.mediaType, "version=0.2") {
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_X509CertificateChain{
			X509CertificateChain: &protocommon.X509CertificateChain{Certificates: []*protocommon.X509Certificate{{RawBytes: vc.Certificate().Raw}}}}
	} else {
		b.VerificationMaterial.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}}
	}
	if env := sc.EnvelopeContent(); env != nil {
		raw := env.RawEnvelope()
		payload, _ := base64.StdEncoding.DecodeString(raw.Payload)
		sig, _ := base64.StdEncoding.DecodeString(raw.Signatures[0].Sig)
		b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: raw.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}}}}
	} else {
		ms := sc.MessageSignatureContent()
		b.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ms.Digest()},
			Signature:     ms.Signature(),
		}}
	}
	raw, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// attest signs an in-toto statement about subject, with a log entry
// that has an inclusion proof.
func (s *sigstore) attest(t testing.TB, identity string, subject digest.Digest, predicateType string) *ca.TestEntity {
	t.Helper()
	ent, err := s.AttestAtTime(identity, signerIssuer, statement(subject, predicateType), time.Now().Add(5*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	return ent
}

// bundleManifest is a referrer holding one bundle layer.
func bundleManifest(blob []byte, mediaType string) *sigManifest {
	if mediaType == "" {
		mediaType = ArtifactTypeBundle
	}
	m := &sigManifest{artifactType: mediaType}
	m.add(mediaType, blob, nil)
	return m
}

// hashedRekord is the Rekor hashedrekord entry (v0.0.1) that cosign
// uploads for a key-signed payload, logged by s now.
func (s *sigstore) hashedRekord(t testing.TB, k testKey, payload []byte, b64sig string) *protorekor.TransparencyLogEntry {
	t.Helper()
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1",
		"kind":       "hashedrekord",
		"spec": map[string]any{
			"data": map[string]any{"hash": map[string]string{"algorithm": "sha256", "value": digest.FromBytes(payload).Encoded()}},
			"signature": map[string]any{
				"content":   b64sig,
				"publicKey": map[string]string{"content": base64.StdEncoding.EncodeToString(pemKey)},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	logID, err := s.RekorLogID()
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := hex.DecodeString(logID)
	return &protorekor.TransparencyLogEntry{
		LogIndex:          7,
		LogId:             &protocommon.LogId{KeyId: rawID},
		KindVersion:       &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.1"},
		IntegratedTime:    time.Now().Unix(),
		CanonicalizedBody: body,
	}
}
