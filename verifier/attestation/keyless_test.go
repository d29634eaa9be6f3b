package attestation

import (
	"encoding/base64"
	"encoding/hex"
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
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The identity GitHub Actions gives a release workflow, as the virtual
// Fulcio certifies it.
const (
	workflowIdentity = "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main"
	actionsIssuer    = "https://token.actions.githubusercontent.com"
)

// sigstore is sigstore-go's virtual Sigstore (Fulcio, Rekor, a CT log and
// a timestamp authority, in memory) and its trusted root file.
type sigstore struct {
	*ca.VirtualSigstore
	rootFile string
}

func newSigstore(t testing.TB) *sigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	return &sigstore{VirtualSigstore: vs, rootFile: writeRoot(t, vs, true)}
}

// writeRoot writes the trusted root of vs to a file, with or without its
// CT log.
func writeRoot(t testing.TB, vs *ca.VirtualSigstore, withCT bool) string {
	t.Helper()
	// The virtual Sigstore keeps log IDs as hex text; a trusted root keeps
	// the raw key IDs that log entries name.
	rawIDs := func(logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
		out := map[string]*root.TransparencyLog{}
		for k, l := range logs {
			c := *l
			id, err := hex.DecodeString(string(l.ID))
			if err != nil {
				t.Fatal(err)
			}
			c.ID = id
			out[k] = &c
		}
		return out
	}
	ct := map[string]*root.TransparencyLog{}
	if withCT {
		ct = rawIDs(vs.CTLogs())
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), ct,
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
	return file
}

// emptyCTRoot is s's trusted root without its CT log.
func emptyCTRoot(t testing.TB, s *sigstore) string { return writeRoot(t, s.VirtualSigstore, false) }

// bundleParts say how a test bundle is put together.
type bundleParts struct {
	noTlog bool // leave out the transparency log entry
}

// attest signs statement keyless as identity, logged in Rekor with an
// inclusion proof, and returns the Sigstore bundle v0.3 that `cosign
// attest --new-bundle-format` would attach.
func (s *sigstore) attest(t testing.TB, identity string, statement []byte, parts bundleParts) []byte {
	t.Helper()
	ent, err := s.AttestAtTime(identity, actionsIssuer, statement, time.Now().Add(5*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := ent.VerificationContent()
	sc, _ := ent.SignatureContent()
	ts, _ := ent.Timestamps()
	b := &protobundle.Bundle{
		MediaType: ArtifactTypeBundle,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:                   &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TimestampVerificationData: &protobundle.TimestampVerificationData{Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts[0]}}},
		},
	}
	if !parts.noTlog {
		entries, _ := ent.TlogEntries()
		tle := proto.Clone(entries[0].TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
		tle.KindVersion = &protorekor.KindVersion{Kind: "dsse", Version: "0.0.1"}
		set, err := s.RekorSignPayload(tlog.RekorPayload{
			Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
			IntegratedTime: tle.GetIntegratedTime(),
			LogIndex:       tle.GetLogIndex(),
			LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
		})
		if err != nil {
			t.Fatal(err)
		}
		tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
		b.VerificationMaterial.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	raw := sc.EnvelopeContent().RawEnvelope()
	payload, _ := base64.StdEncoding.DecodeString(raw.Payload)
	sig, _ := base64.StdEncoding.DecodeString(raw.Signatures[0].Sig)
	b.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
		Payload: payload, PayloadType: raw.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}}}}
	out, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keylessConfig trusts the release workflow's identity through s's
// trusted root, without SCTs (the virtual Fulcio embeds none).
func (s *sigstore) keylessConfig(mods ...func(*Config)) Config {
	c := Config{Settings: Settings{
		Keyless:         &Keyless{CertificateIdentity: workflowIdentity, CertificateOIDCIssuer: actionsIssuer, CTLogVerify: ptr(false)},
		TrustedRootFile: s.rootFile,
		Predicates:      []Predicate{slsaPolicy},
	}}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func TestVerifyKeyless(t *testing.T) {
	s, untrusted := newSigstore(t), newSigstore(t)
	prov := statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef))
	k := newKey(t, "ecdsa-p256")
	noTlog := func(c *Config) { c.TLogVerify = ptr(false) }
	tests := []struct {
		name   string
		bundle func(t *testing.T) []byte
		mods   []func(*Config)
		opts   Options
		want   bool
		reason string
	}{
		{"identity and issuer", func(t *testing.T) []byte { return s.attest(t, workflowIdentity, prov, bundleParts{}) }, nil, Options{}, true, ""},
		{"identity regexp", func(t *testing.T) []byte { return s.attest(t, workflowIdentity, prov, bundleParts{}) },
			[]func(*Config){func(c *Config) {
				c.Keyless.CertificateIdentity, c.Keyless.CertificateIdentityRegExp = "", `^https://github\.com/example/app/`
			}}, Options{}, true, ""},
		{"other identity", func(t *testing.T) []byte {
			return s.attest(t, "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main", prov, bundleParts{})
		}, nil, Options{}, false, "expected SAN value"},
		{"untrusted Sigstore", func(t *testing.T) []byte { return untrusted.attest(t, workflowIdentity, prov, bundleParts{}) }, nil, Options{}, false, "not enough verified log entries"},
		{"statement about another image", func(t *testing.T) []byte {
			return s.attest(t, workflowIdentity, statementJSON(t, otherImage, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef)), bundleParts{})
		}, nil, Options{}, false, "not about the image"},
		{"provenance of another repository", func(t *testing.T) []byte {
			return s.attest(t, workflowIdentity, statementJSON(t, image.Digest, PredicateSLSAProvenanceV1,
				githubProvenance(githubBuilder, "https://github.com/example/fork", sourceRef)), bundleParts{})
		}, nil, Options{}, false, "source repository"},
		{"log entry required but missing", func(t *testing.T) []byte { return s.attest(t, workflowIdentity, prov, bundleParts{noTlog: true}) },
			nil, Options{}, false, "log entries"},
		{"no log entry, signed timestamp", func(t *testing.T) []byte { return s.attest(t, workflowIdentity, prov, bundleParts{noTlog: true}) },
			[]func(*Config){noTlog}, Options{Now: func() time.Time { return time.Now().Add(time.Hour) }}, true, ""},
		{"SCT required", func(t *testing.T) []byte { return s.attest(t, workflowIdentity, prov, bundleParts{}) },
			[]func(*Config){func(c *Config) { c.Keyless.CTLogVerify = nil }}, Options{}, false, "certificate timestamp"},
		{"key-signed bundle under a keyless identity", func(t *testing.T) []byte { return k.bundle(t, prov) }, nil, Options{}, false,
			"only a keyless identity is trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, s.keylessConfig(tt.mods...), tt.opts)
			desc, f := bundled(t, tt.bundle(t))
			r := mustVerify(t, v, desc, f)
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("IsSuccess = %v, ErrorReason %q; want %v, %q", r.IsSuccess, r.ErrorReason, tt.want, tt.reason)
			}
			if !tt.want {
				return
			}
			sig := statements(t, r)[0].Signer
			if sig == nil || sig.Identity != workflowIdentity || sig.Issuer != actionsIssuer || sig.Key != nil {
				t.Errorf("signer %+v", sig)
			}
		})
	}

	t.Run("keyless bundle under keys only", func(t *testing.T) {
		v := newVerifier(t, keyConfig([]string{k.file}, slsaPolicy), Options{})
		desc, f := bundled(t, s.attest(t, workflowIdentity, prov, bundleParts{}))
		if r := mustVerify(t, v, desc, f); r.IsSuccess || !strings.Contains(r.ErrorReason, "no keyless identity is trusted") {
			t.Fatalf("report %+v", r)
		}
	})
	t.Run("bare envelope under a keyless identity", func(t *testing.T) {
		v := newVerifier(t, s.keylessConfig(noTlog), Options{})
		desc, f := inToto(t, k.envelope(t, prov))
		if r := mustVerify(t, v, desc, f); r.IsSuccess || !strings.Contains(r.ErrorReason, "carries no certificate") {
			t.Fatalf("report %+v", r)
		}
	})
	t.Run("bare envelope when a log entry is required", func(t *testing.T) {
		cfg := keyConfig([]string{k.file}, slsaPolicy)
		cfg.TrustedRootFile = s.rootFile
		v := newVerifier(t, cfg, Options{})
		desc, f := inToto(t, k.envelope(t, prov))
		if r := mustVerify(t, v, desc, f); r.IsSuccess || !strings.Contains(r.ErrorReason, "carries no transparency log entry") {
			t.Fatalf("report %+v", r)
		}
	})
}
