// Package attestation verifies in-toto attestations of container images:
// in-toto statements (in-toto attestation framework v1) signed in DSSE
// envelopes (DSSE v1.0), attached to the image as OCI distribution-spec
// v1.1 referrers, and the predicates they carry.
//
// It reads two forms of attestation (see DefaultArtifactTypes):
//
//   - Sigstore bundles (Sigstore bundle format v0.1 to v0.3), as `cosign
//     attest --new-bundle-format` and GitHub's artifact attestations attach
//     them: a referrer whose artifact type and layer media type are the
//     bundle's, holding a DSSE envelope of an in-toto statement. Bundles
//     that hold a cosign signature (a message signature, or a statement of
//     predicate type https://sigstore.dev/cosign/sign/v1) are left to the
//     cosign verifier and fail here;
//   - bare DSSE envelopes, in a referrer of artifact type
//     ArtifactTypeInToto whose layers, of media type MediaTypeDSSE (or
//     ArtifactTypeInToto), are DSSE envelopes in JSON with payload type
//     application/vnd.in-toto+json.
//
// A statement passes when its DSSE signature verifies with a trusted public
// key (files, or keys of key management providers), or, in a bundle,
// keyless with a Fulcio certificate of the trusted identity under a
// Sigstore trusted root file (with sigstore-go, offline); when one of its
// subjects has the image's digest; and when the predicate policy of its
// predicate type accepts it: SLSA provenance v1 checks of the builder and
// source, and a Rego v1 policy (query data.ratify.attestation.allow over
// {"statement": ...}, compiled once, with no built-in that reaches the
// network). An artifact passes when one of its statements does.
package attestation

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/keys"
)

// VerifierType is the verifier type reports carry.
const VerifierType = "attestation"

// Artifact, media, payload and statement types.
const (
	// ArtifactTypeBundle and the older bundle media types are the artifact
	// and layer media types of Sigstore bundles attached as referrers.
	ArtifactTypeBundle    = "application/vnd.dev.sigstore.bundle.v0.3+json"
	ArtifactTypeBundleV02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
	ArtifactTypeBundleV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
	// ArtifactTypeInToto is the artifact type of a referrer of bare DSSE
	// envelopes of in-toto statements.
	ArtifactTypeInToto = "application/vnd.in-toto+json"
	// MediaTypeDSSE is the media type of a layer holding a DSSE envelope
	// in JSON.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// PayloadTypeInToto is the DSSE payload type of an in-toto statement.
	PayloadTypeInToto = "application/vnd.in-toto+json"
	// StatementV1 and StatementV01 are the in-toto statement types read.
	StatementV1  = "https://in-toto.io/Statement/v1"
	StatementV01 = "https://in-toto.io/Statement/v0.1"
	// PredicateSLSAProvenanceV1 is the predicate type of SLSA provenance v1.
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// predicateCosignSign is the predicate type of a cosign signature.
	predicateCosignSign = "https://sigstore.dev/cosign/sign/v1"
)

// DefaultArtifactTypes are the artifact types handled when the
// configuration names none.
var DefaultArtifactTypes = []string{ArtifactTypeBundle, ArtifactTypeBundleV02, ArtifactTypeBundleV01, ArtifactTypeInToto}

// Limits on what a registry or the configuration controls.
const (
	// MaxKeys bounds the keys tried on each signature.
	MaxKeys = 64
	// MaxPredicates bounds the predicate policies of a verifier.
	MaxPredicates = 32
	// MaxEnvelopes bounds the layers (envelopes) of one artifact.
	MaxEnvelopes = 16
	// MaxSignatures bounds the signatures of one DSSE envelope.
	MaxSignatures = 16
	// maxManifestSize bounds an artifact's manifest.
	maxManifestSize = 4 << 20
	// maxEnvelopeSize bounds a bare DSSE envelope, maxBundleSize a bundle.
	maxEnvelopeSize = 4 << 20
	maxBundleSize   = 8 << 20
	// maxRegoFileSize bounds a Rego policy file.
	maxRegoFileSize = 1 << 20
)

// Options are the runtime settings of a Verifier. The zero value works for
// configurations that name no key management provider.
type Options struct {
	// KeyProviders are the key management providers keys[].provider may
	// name, by name.
	KeyProviders map[string]keys.Provider
	// Now is the clock that judges certificates when no transparency log
	// entry or timestamp dates a signature; nil means time.Now.
	Now func() time.Time
	// BaseDir resolves relative key, trusted root and Rego file paths,
	// usually the directory of the configuration file.
	BaseDir string
	// RegoTimeout bounds each evaluation of a Rego policy (the caller's
	// context bounds it too); zero means DefaultRegoTimeout.
	RegoTimeout time.Duration
}

// Verifier verifies in-toto attestations. It is a ratify.Verifier and a
// ratify.NestedVerifier, and is safe for concurrent use.
type Verifier struct {
	name          string
	artifactTypes []string
	nested        []string
	fileKeys      []trustedKey
	providers     []providerKeys
	// keyless, when set, is the identity certificates must have.
	keyless *verify.CertificateIdentity
	ctlog   bool
	tlog    bool
	// trusted is the trusted root file's, nil without one.
	trusted    root.TrustedMaterial
	predicates []*predicatePolicy
	now        func() time.Time
}

// predicatePolicy is a Predicate ready to check statements with.
type predicatePolicy struct {
	predicateType string
	slsa          *SLSA
	rego          *regoCheck
}

// New validates cfg, reads its key files, trusted root and Rego files,
// compiles its Rego policies, and finds the key management providers it
// names in opts. It makes no network call. Every problem with the
// configuration wraps errdef.ErrInvalidConfig.
func New(cfg Config, opts Options) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		name:          cfg.Name,
		artifactTypes: slices.Clone(cfg.ArtifactTypes),
		nested:        slices.Clone(cfg.NestedReferences),
		tlog:          cfg.tlog(),
		now:           opts.Now,
	}
	if v.name == "" {
		v.name = VerifierType
	}
	if len(v.artifactTypes) == 0 {
		v.artifactTypes = slices.Clone(DefaultArtifactTypes)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if err := v.addTrust(cfg.Settings, opts); err != nil {
		return nil, err
	}
	regoTimeout := opts.RegoTimeout
	if regoTimeout <= 0 {
		regoTimeout = DefaultRegoTimeout
	}
	for i, p := range cfg.Predicates {
		pp, err := newPredicatePolicy(p, opts.BaseDir, regoTimeout)
		if err != nil {
			return nil, fmt.Errorf("predicates[%d]: %w", i, err)
		}
		v.predicates = append(v.predicates, pp)
	}
	return v, nil
}

// addTrust reads the trusted root and key files and finds the providers.
func (v *Verifier) addTrust(s Settings, opts Options) error {
	if s.TrustedRootFile != "" {
		tr, err := readTrustedRoot(resolve(opts.BaseDir, s.TrustedRootFile))
		if err != nil {
			return fmt.Errorf("trustedRootFile: %v: %w", err, errdef.ErrInvalidConfig)
		}
		switch {
		case v.tlog && len(tr.RekorLogs()) == 0:
			return fmt.Errorf("trustedRootFile %s lists no transparency log (tlogs), and tLogVerify is on: %w", s.TrustedRootFile, errdef.ErrInvalidConfig)
		case s.Keyless != nil && len(tr.FulcioCertificateAuthorities()) == 0:
			return fmt.Errorf("trustedRootFile %s lists no certificate authority: %w", s.TrustedRootFile, errdef.ErrInvalidConfig)
		}
		v.trusted = tr
	}
	if k := s.Keyless; k != nil {
		id, err := verify.NewShortCertificateIdentity(k.CertificateOIDCIssuer, k.CertificateOIDCIssuerRegExp,
			k.CertificateIdentity, k.CertificateIdentityRegExp)
		if err != nil {
			return fmt.Errorf("keyless: %v: %w", err, errdef.ErrInvalidConfig)
		}
		v.keyless = &id
		v.ctlog = k.CTLogVerify == nil || *k.CTLogVerify
		if v.ctlog && len(v.trusted.CTLogs()) == 0 {
			return fmt.Errorf("trustedRootFile %s lists no CT log (ctlogs), and keyless.ctLogVerify is on: %w", s.TrustedRootFile, errdef.ErrInvalidConfig)
		}
	}
	for i, k := range s.Keys {
		if k.File != "" {
			got, err := readKeyFile(resolve(opts.BaseDir, k.File))
			if err != nil {
				return fmt.Errorf("keys[%d]: %w", i, err)
			}
			v.fileKeys = append(v.fileKeys, got...)
			continue
		}
		prov, ok := opts.KeyProviders[k.Provider]
		if !ok || prov == nil {
			return fmt.Errorf("keys[%d]: key management provider %q is not configured: %w", i, k.Provider, errdef.ErrInvalidConfig)
		}
		v.providers = append(v.providers, providerKeys{name: k.Provider, provider: prov, key: k.Name, version: k.Version})
	}
	if len(v.fileKeys) > MaxKeys {
		return fmt.Errorf("keys: %d keys, more than %d: %w: %w", len(v.fileKeys), MaxKeys, errdef.ErrSizeExceedsLimit, errdef.ErrInvalidConfig)
	}
	return nil
}

// newPredicatePolicy reads and compiles a predicate's Rego policy.
func newPredicatePolicy(p Predicate, baseDir string, regoTimeout time.Duration) (*predicatePolicy, error) {
	pp := &predicatePolicy{predicateType: p.PredicateType, slsa: p.SLSA}
	module, filename := p.Rego, "policy.rego"
	if p.RegoFile != "" {
		filename = resolve(baseDir, p.RegoFile)
		data, err := limitedfile.Read(filename, maxRegoFileSize)
		if err != nil {
			return nil, fmt.Errorf("regoFile: %v: %w", err, errdef.ErrInvalidConfig)
		}
		module = string(data)
	}
	if module == "" {
		return pp, nil
	}
	rc, err := compileRego(filename, module, regoTimeout)
	if err != nil {
		return nil, fmt.Errorf("rego: %w", err)
	}
	pp.rego = rc
	return pp, nil
}

// maxTrustedRootSize bounds a trusted_root.json (the public Sigstore's is
// tens of KiB).
const maxTrustedRootSize = 4 << 20

// readTrustedRoot reads a Sigstore trusted_root.json of bounded size.
func readTrustedRoot(path string) (*root.TrustedRoot, error) {
	data, err := limitedfile.Read(path, maxTrustedRootSize)
	if err != nil {
		return nil, err
	}
	return root.NewTrustedRootFromJSON(data)
}

// Name returns the configured instance name (ratify.Verifier).
func (v *Verifier) Name() string { return v.name }

// Type returns VerifierType (ratify.Verifier).
func (v *Verifier) Type() string { return VerifierType }

// CanVerify reports whether artifactType is one the verifier was
// configured for; "*" matches every type, as in Ratify v1.
func (v *Verifier) CanVerify(artifactType string) bool {
	return slices.Contains(v.artifactTypes, artifactType) || slices.Contains(v.artifactTypes, "*")
}

// NestedReferences returns the artifact types to verify on an attestation
// itself (ratify.NestedVerifier).
func (v *Verifier) NestedReferences() []string { return slices.Clone(v.nested) }

// resolve makes a relative path relative to base.
func resolve(base, path string) string {
	if path == "" || base == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(base, path)
}
