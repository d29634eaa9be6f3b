// Package notation verifies Notary Project signatures
// (https://github.com/notaryproject/specifications, v1.1): signature
// envelopes in JWS or COSE, attached to a subject by a signature manifest of
// artifact type application/vnd.cncf.notary.signature, checked against
// trust policies and trust stores as the Notary Project trust store and
// trust policy specification defines, with revocation by OCSP and CRL and
// RFC 3161 timestamps. The checks themselves are notation-go's; this package
// reads the signature through a ratify.Fetcher and turns notation-go's
// outcome into a ratify.Report an operator can act on.
//
// It is the drop-in for Ratify v1's "notation" verifier: its Config is that
// verifier's configuration entry.
package notation

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/errdef"
)

// ArtifactTypeSignature is the artifact type of a Notary Project signature
// manifest (signature specification, "Storage").
const ArtifactTypeSignature = "application/vnd.cncf.notary.signature"

// VerifierType is the verifier type reports carry, as in Ratify v1's
// notation verifier.
const VerifierType = "notation"

// DefaultHTTPTimeout bounds each OCSP (RFC 6960) or CRL (RFC 5280) request
// of the Notary Project revocation checks when Options.HTTPClient is nil.
const DefaultHTTPTimeout = 5 * time.Second

// Config is Ratify v1's notation verifier entry, typed: which artifacts it
// verifies, the trust stores and the trust policy document of the Notary
// Project trust store and trust policy specification (v1.1).
type Config struct {
	// Name is the instance name reports carry; empty means "notation".
	Name string `json:"name"`
	// ArtifactTypes are the artifact types this verifier handles; empty
	// means ArtifactTypeSignature.
	ArtifactTypes []string `json:"artifactTypes"`
	// VerificationCerts lists certificate files and directories: flat
	// directories of PEM or DER files, whose certificates every trust store
	// the policy names is given (Ratify v1's behaviour), or directories with
	// Notation's trust store layout (ca/<name>/, signingAuthority/<name>/,
	// tsa/<name>/), whose named stores are served as named.
	VerificationCerts []string `json:"verificationCerts"`
	// TrustPolicyDoc is a Notary Project trust policy document, version 1.0.
	TrustPolicyDoc trustpolicy.Document `json:"trustPolicyDoc"`
	// NestedReferences are artifact types whose referrers of the signature
	// must themselves be verified.
	NestedReferences []string `json:"nestedReferences,omitempty"`
}

// Validate checks the trust policy document against the Notary Project
// trust store and trust policy specification ("Trust Policy"), as
// notation-go reads it; errors wrap errdef.ErrInvalidConfig.
func (c *Config) Validate() error {
	if err := c.TrustPolicyDoc.Validate(); err != nil {
		return fmt.Errorf("trustPolicyDoc: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return nil
}

// Options are the runtime settings of a Verifier. The zero value works: no
// CRL cache, and OCSP and CRL requests with DefaultHTTPTimeout.
type Options struct {
	// CRLCacheDir, when set, keeps fetched CRLs in notation-go's file cache
	// in that directory (one file per CRL URL, used until the CRL's
	// NextUpdate). Empty means CRLs are fetched at every verification.
	CRLCacheDir string
	// HTTPClient fetches OCSP responses and CRLs; nil means a client with
	// DefaultHTTPTimeout.
	HTTPClient *http.Client
	// TrustStore, when set, supplies certificates in addition to
	// VerificationCerts, asked at verification time (for trust material
	// that rotates, such as a key management provider's).
	TrustStore truststore.X509TrustStore
}

// Verifier verifies Notary Project signatures following the trust store
// and trust policy specification's "Signature Verification" steps, as
// implemented by notation-go. It is a ratify.Verifier and a
// ratify.NestedVerifier, and is safe for concurrent use.
type Verifier struct {
	name          string
	artifactTypes []string
	nested        []string
	policy        *trustpolicy.Document
	notation      notation.Verifier
}

// New builds a verifier: it validates the trust policy, reads and parses
// every certificate of VerificationCerts, and sets up revocation checking.
// Every problem with the configuration wraps errdef.ErrInvalidConfig: an
// invalid trust policy, a certificate file that does not parse, or a trust
// store named by a policy (other than one at level skip) for which no
// source provides a certificate. A listed path that does not exist is not
// an error by itself, as long as the policy's stores get certificates from
// elsewhere.
func New(cfg Config, opts Options) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	doc := cloneDocument(cfg.TrustPolicyDoc)
	store, err := loadTrustStore(cfg.VerificationCerts, opts.TrustStore)
	if err != nil {
		return nil, err
	}
	if err := checkTrustStores(&doc, store, cfg.VerificationCerts); err != nil {
		return nil, err
	}
	codeSigning, timestamping, err := revocationValidators(opts)
	if err != nil {
		return nil, err
	}
	nv, err := verifier.NewWithOptions(&doc, store, nil, verifier.VerifierOptions{
		RevocationCodeSigningValidator:  newVouchedFor(codeSigning, &doc, store),
		RevocationTimestampingValidator: newVouchedFor(timestamping, &doc, store),
	})
	if err != nil {
		return nil, fmt.Errorf("notation verifier: %v: %w", err, errdef.ErrInvalidConfig)
	}
	v := &Verifier{
		name:          cfg.Name,
		artifactTypes: slices.Clone(cfg.ArtifactTypes),
		nested:        slices.Clone(cfg.NestedReferences),
		policy:        &doc,
		notation:      nv,
	}
	if v.name == "" {
		v.name = VerifierType
	}
	if len(v.artifactTypes) == 0 {
		v.artifactTypes = []string{ArtifactTypeSignature}
	}
	return v, nil
}

// checkTrustStores makes sure every trust store that a verifying policy
// names gets certificates.
func checkTrustStores(doc *trustpolicy.Document, store *trustStore, paths []string) error {
	for _, p := range doc.TrustPolicies {
		if p.SignatureVerification.VerificationLevel == trustpolicy.LevelSkip.Name {
			continue
		}
		for _, ref := range p.TrustStores {
			typ, name, _ := strings.Cut(ref, ":")
			if !store.has(truststore.Type(typ), name) {
				return fmt.Errorf("trust policy %q names trust store %q, but verificationCerts %q provide no certificate for it: %w",
					p.Name, ref, paths, errdef.ErrInvalidConfig)
			}
		}
	}
	return nil
}

// cloneDocument copies doc deeply, so that the caller's later changes do
// not reach the verifier.
func cloneDocument(doc trustpolicy.Document) trustpolicy.Document {
	doc.TrustPolicies = slices.Clone(doc.TrustPolicies)
	for i, p := range doc.TrustPolicies {
		p.RegistryScopes = slices.Clone(p.RegistryScopes)
		p.TrustStores = slices.Clone(p.TrustStores)
		p.TrustedIdentities = slices.Clone(p.TrustedIdentities)
		p.SignatureVerification.Override = maps.Clone(p.SignatureVerification.Override)
		doc.TrustPolicies[i] = p
	}
	return doc
}

// Name returns the configured instance name (ratify.Verifier).
func (v *Verifier) Name() string { return v.name }

// Type returns VerifierType (ratify.Verifier).
func (v *Verifier) Type() string { return VerifierType }

// CanVerify reports whether artifactType is one the verifier was
// configured for; by default the Notary Project signature artifact type.
// The configured type "*" matches every artifact type, as in Ratify v1.
func (v *Verifier) CanVerify(artifactType string) bool {
	return slices.Contains(v.artifactTypes, artifactType) || slices.Contains(v.artifactTypes, "*")
}

// NestedReferences returns the artifact types to verify on a signature
// itself (ratify.NestedVerifier).
func (v *Verifier) NestedReferences() []string { return slices.Clone(v.nested) }
