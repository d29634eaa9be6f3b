// Package cosign verifies cosign signatures of container images: Ratify
// v1's built-in "cosign" verifier, configured by the same trust policies.
//
// It reads two forms of signature:
//
//   - cosign's signature manifests (cosign "Signature Specification"),
//     found under the tag sha256-<hex>.sig and handed to the verifier with
//     artifact type ArtifactTypeSignature: one layer per signature, of
//     media type MediaTypeSimpleSigning, whose blob is the simple signing
//     payload naming the image digest and whose annotations carry the
//     signature, the Fulcio certificate and chain, the Rekor bundle and an
//     RFC 3161 timestamp;
//   - Sigstore bundles (Sigstore bundle format v0.1 to v0.3) attached as
//     OCI distribution-spec v1.1 referrers, as cosign writes them with
//     --new-bundle-format: a message signature over the image digest, or a
//     DSSE envelope of an in-toto statement about the image.
//
// Signatures are checked against public keys (files, or keys of key
// management providers) or, keyless, against the Fulcio CAs, Rekor and CT
// logs and timestamp authorities of a Sigstore trusted root, with
// sigstore-go. Signatures are verified offline: the verifier never
// contacts Rekor or Fulcio. The trusted root is a file, or the target
// trusted_root.json of a TUF repository (The Update Framework
// specification v1.0), by default the public Sigstore instance's, fetched
// with sigstore-go's TUF client at the first verification that needs it
// and again every refresh interval; that repository is the only server the
// verifier contacts.
package cosign

import (
	"fmt"
	"slices"
	"time"

	"github.com/openratify/ratify/keys"
)

// Artifact and media types (cosign "Signature Specification"; Sigstore
// bundle format).
const (
	// ArtifactTypeSignature is the artifact type the registry store gives
	// cosign signature manifests found under sha256-<hex>.sig tags.
	ArtifactTypeSignature = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// ArtifactTypeBundle and the older bundle media types are the artifact
	// types of Sigstore bundles attached as referrers.
	ArtifactTypeBundle    = "application/vnd.dev.sigstore.bundle.v0.3+json"
	ArtifactTypeBundleV02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
	ArtifactTypeBundleV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
	// MediaTypeSimpleSigning is the media type of a cosign signature layer.
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
)

// Annotations of a cosign signature layer.
const (
	AnnotationSignature        = "dev.cosignproject.cosign/signature"
	AnnotationCertificate      = "dev.sigstore.cosign/certificate"
	AnnotationChain            = "dev.sigstore.cosign/chain"
	AnnotationBundle           = "dev.sigstore.cosign/bundle"
	AnnotationRFC3161Timestamp = "dev.sigstore.cosign/rfc3161timestamp"
)

// VerifierType is the verifier type reports carry, as in Ratify v1.
const VerifierType = "cosign"

// Options are the runtime settings of a Verifier. The zero value works for
// configurations that name no key management provider.
type Options struct {
	// KeyProviders are the key management providers trust policies may
	// name in keys[].provider, by name.
	KeyProviders map[string]keys.Provider
	// Now is the clock that judges certificates when no transparency log
	// entry or timestamp dates a signature, and that schedules refreshes
	// of trusted roots fetched through TUF; nil means time.Now.
	// (sigstore-go also checks such certificates against the system
	// clock.)
	Now func() time.Time
	// BaseDir resolves relative key, trusted root and TUF root file
	// paths, usually the directory of the configuration file.
	BaseDir string
	// TUF is where trust policies that need a Sigstore trusted root and
	// name no trustedRootFile get it, when their verifier entry names no
	// tufMirror. The zero value is the public Sigstore instance.
	TUF TUFOptions
}

// TUFOptions locate a TUF repository (The Update Framework specification
// v1.0) that distributes a Sigstore trusted root as its target
// trusted_root.json, and say how the root is cached. The zero value is
// the public Sigstore instance: sigstore-go's default mirror and the
// root.json embedded in sigstore-go, cached under the user cache
// directory and refreshed daily.
type TUFOptions struct {
	// MirrorURL is the repository's base URL; empty means sigstore-go's
	// default mirror, the public Sigstore instance's.
	MirrorURL string
	// Root is a root.json of MirrorURL (TUF root metadata), the trust
	// anchor the repository's metadata is verified from; nil means the
	// public instance's root embedded in sigstore-go, which suits
	// MirrorURL only when it mirrors the public repository.
	Root []byte
	// CacheDir keeps the repository's metadata and trusted_root.json
	// between runs (a few files per mirror: the top-level metadata, one
	// target and a timestamp), so that a process started within the
	// refresh interval of the last fetch, or while the repository cannot
	// be reached, serves the cached root as long as TUF holds it valid.
	// Empty means ratify/sigstore-tuf under os.UserCacheDir. When the
	// directory cannot be created or written, roots are kept in memory
	// only.
	CacheDir string
	// RefreshInterval is how long a fetched root is used before it is
	// fetched again; zero means DefaultTUFRefreshInterval. The first
	// verification after it starts the refresh in the background and,
	// like those during it, uses the last good root, which also stays in
	// use when the refresh fails (it is retried after 30 seconds).
	RefreshInterval time.Duration
}

// Verifier verifies cosign signatures and Sigstore bundles under trust
// policies. It is a ratify.Verifier and a ratify.NestedVerifier, and is
// safe for concurrent use.
type Verifier struct {
	name          string
	artifactTypes []string
	nested        []string
	// policies are in configuration order; scopes never overlap, except
	// with the global one.
	policies []*policy
	now      func() time.Time
}

// New validates cfg, reads its key files, trusted roots and TUF root
// file, and finds the key management providers it names in opts. It makes
// no network call: a trusted root that comes through TUF is fetched at the
// first verification that needs it. Every problem with the configuration
// wraps errdef.ErrInvalidConfig: a key file that does not parse or holds a
// key of a refused type, overlapping scopes, an unknown provider, a
// trusted root file that lacks what a policy needs or has no log at its
// rekorURL.
func New(cfg Config, opts Options) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	policies := cfg.TrustPolicies
	if cfg.Key != "" {
		tlog := cfg.RekorURL != ""
		policies = []TrustPolicy{{
			Name:            "default",
			Scopes:          []string{"*"},
			Keys:            []KeyRef{{File: cfg.Key}},
			TLogVerify:      &tlog,
			RekorURL:        cfg.RekorURL,
			TrustedRootFile: cfg.TrustedRootFile,
		}}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tuf, err := newTUFRoot(cfg.Settings, opts)
	if err != nil {
		return nil, err
	}
	scopes, err := parseScopes(policies)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		name:          cfg.Name,
		artifactTypes: slices.Clone(cfg.ArtifactTypes),
		nested:        slices.Clone(cfg.NestedReferences),
		now:           opts.Now,
	}
	for i, pc := range policies {
		p, err := newPolicy(pc, scopes[i], opts, tuf)
		if err != nil {
			return nil, fmt.Errorf("trustPolicies[%d]: %w", i, err)
		}
		v.policies = append(v.policies, p)
	}
	if v.name == "" {
		v.name = VerifierType
	}
	if len(v.artifactTypes) == 0 {
		v.artifactTypes = []string{ArtifactTypeSignature, ArtifactTypeBundle, ArtifactTypeBundleV02, ArtifactTypeBundleV01}
	}
	return v, nil
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

// NestedReferences returns the artifact types to verify on a signature
// itself (ratify.NestedVerifier).
func (v *Verifier) NestedReferences() []string { return slices.Clone(v.nested) }

// policyFor returns the trust policy whose scope holds repo
// ("registry/repository"): an exact or wildcard scope, or else the global
// one; nil when none does.
func (v *Verifier) policyFor(repo string) *policy {
	var global *policy
	for _, p := range v.policies {
		for _, s := range p.scopes {
			switch {
			case s.global():
				global = p
			case s.matches(repo):
				return p
			}
		}
	}
	return global
}
