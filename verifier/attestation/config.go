package attestation

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// Config is an attestation verifier entry of config.json
// (verifier.plugins[] with "name":"attestation"), typed.
type Config struct {
	// Name is the instance name reports carry; empty means "attestation".
	Name string `json:"name"`
	// Type is the verifier type; empty or "attestation".
	Type string `json:"type,omitempty"`
	// ArtifactTypes are the artifact types this verifier handles; empty
	// means the Sigstore bundle types and ArtifactTypeInToto.
	ArtifactTypes List `json:"artifactTypes,omitempty"`
	// NestedReferences are artifact types whose referrers of a verified
	// attestation must themselves be verified.
	NestedReferences List `json:"nestedReferences,omitempty"`

	Settings
}

// Settings are the fields of an attestation entry particular to it. A
// config loader that decodes the common fields itself embeds Settings.
type Settings struct {
	// Keys are the public keys trusted to sign attestations: PEM files,
	// or keys of key management providers.
	Keys []KeyRef `json:"keys,omitempty"`
	// Keyless trusts attestations in Sigstore bundles signed with a
	// Fulcio certificate of one identity, under TrustedRootFile.
	Keyless *Keyless `json:"keyless,omitempty"`
	// TrustedRootFile is a Sigstore trusted_root.json (media type
	// application/vnd.dev.sigstore.trustedroot+json;version=0.1): the
	// Fulcio CAs, Rekor and CT logs and timestamp authorities that keyless
	// attestations and transparency log entries are verified against.
	// Required with Keyless or TLogVerify; never fetched.
	TrustedRootFile string `json:"trustedRootFile,omitempty"`
	// TLogVerify requires a verified Rekor entry with every attestation,
	// checked offline against TrustedRootFile (only Sigstore bundles carry
	// one). Unset means true when TrustedRootFile is given.
	TLogVerify *bool `json:"tLogVerify,omitempty"`
	// Predicates say which in-toto predicate types are accepted and what
	// each must satisfy. A signed statement about the image whose
	// predicate type none names fails.
	Predicates []Predicate `json:"predicates"`
}

// KeyRef names trusted public keys: a PEM file, or the keys of a key
// management provider (all of them, or one by name and version).
type KeyRef struct {
	Provider string `json:"provider,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
	// File is a PEM file of public keys (RFC 7468 "PUBLIC KEY").
	File string `json:"file,omitempty"`
}

// Keyless trusts Fulcio certificates of an identity (a subject
// alternative name) issued by an OIDC issuer, each given exactly or as a
// regular expression (Go RE2 syntax, unanchored), as cosign's.
type Keyless struct {
	CertificateIdentity         string `json:"certificateIdentity,omitempty"`
	CertificateIdentityRegExp   string `json:"certificateIdentityRegExp,omitempty"`
	CertificateOIDCIssuer       string `json:"certificateOIDCIssuer,omitempty"`
	CertificateOIDCIssuerRegExp string `json:"certificateOIDCIssuerRegExp,omitempty"`
	// CTLogVerify requires a verified signed certificate timestamp (RFC
	// 6962) from a CT log of the trusted root; unset means true.
	CTLogVerify *bool `json:"ctLogVerify,omitempty"`
}

// Predicate accepts statements of one predicate type (in-toto attestation
// framework v1), or of any ("*", tried after the exact types), when they
// pass its checks: SLSA, Rego, both or neither (the signature and the
// subject are then enough).
type Predicate struct {
	PredicateType string `json:"predicateType"`
	// SLSA checks SLSA provenance v1 (PredicateType must be
	// PredicateSLSAProvenanceV1).
	SLSA *SLSA `json:"slsa,omitempty"`
	// Rego is a Rego v1 module of package ratify.attestation whose rule
	// allow must be true for {"statement": <the in-toto statement>}.
	// RegoFile names a file holding it instead.
	Rego     string `json:"rego,omitempty"`
	RegoFile string `json:"regoFile,omitempty"`
}

// SLSA are the expectations on an SLSA provenance v1 predicate, each
// compared exactly; an empty field is not checked.
type SLSA struct {
	// BuilderID must equal runDetails.builder.id.
	BuilderID string `json:"builderID,omitempty"`
	// SourceRepository is the repository built from, as a URL
	// ("https://github.com/org/repo") or host/path: it must equal
	// buildDefinition.externalParameters.workflow.repository (GitHub
	// Actions build types) or, without it, the URI of the first resolved
	// dependency ("git+https://github.com/org/repo@refs/heads/main"),
	// compared without "git+", a ".git" suffix and the ref.
	SourceRepository string `json:"sourceRepository,omitempty"`
	// SourceRef is the git ref built ("refs/heads/main",
	// "refs/tags/v1.0.0"): externalParameters.workflow.ref or, without
	// it, the ref of the first resolved dependency's URI.
	SourceRef string `json:"sourceRef,omitempty"`
}

// List is a list of strings written either as a comma-separated string
// ("a,b", as Ratify v1's artifactTypes) or as a JSON array.
type List []string

// UnmarshalJSON accepts "a, b" and ["a", "b"].
func (l *List) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*l = nil
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*l = append(*l, part)
			}
		}
		return nil
	}
	var items []string
	if err := json.Unmarshal(data, &items); err != nil {
		return errors.New("expected a comma-separated string or an array of strings")
	}
	*l = items
	return nil
}

// tlog reports whether transparency log entries are required.
func (s *Settings) tlog() bool {
	if s.TLogVerify != nil {
		return *s.TLogVerify
	}
	return s.TrustedRootFile != ""
}

// Validate checks the configuration without reading any file or
// compiling any policy. Errors wrap errdef.ErrInvalidConfig and name the
// JSON path of the offending value ("predicates[1].slsa").
func (c *Config) Validate() error {
	if c.Type != "" && c.Type != VerifierType {
		return invalid("type", "%q is not %q", c.Type, VerifierType)
	}
	switch {
	case len(c.Keys) == 0 && c.Keyless == nil:
		return invalid("keys", "no keys and no keyless identity: nothing would be trusted")
	case len(c.Keys) > MaxKeys:
		return fmt.Errorf("keys: %d keys, more than %d: %w: %w", len(c.Keys), MaxKeys, errdef.ErrSizeExceedsLimit, errdef.ErrInvalidConfig)
	case c.Keyless != nil && c.TrustedRootFile == "":
		return invalid("trustedRootFile", "keyless verification needs the Sigstore trusted root of the Fulcio CA and logs")
	case c.tlog() && c.TrustedRootFile == "":
		return invalid("trustedRootFile", "tLogVerify needs the Sigstore trusted root of the transparency log")
	}
	for i, k := range c.Keys {
		path := fmt.Sprintf("keys[%d]", i)
		switch {
		case k.File == "" && k.Provider == "":
			return invalid(path, "a key needs a file or a provider")
		case k.File != "" && (k.Provider != "" || k.Name != "" || k.Version != ""):
			return invalid(path, "file cannot be combined with provider, name or version")
		case k.Version != "" && k.Name == "":
			return invalid(path+".version", "a key version needs a key name")
		}
	}
	if c.Keyless != nil {
		if err := c.Keyless.validate("keyless"); err != nil {
			return err
		}
	}
	return c.validatePredicates()
}

func (k *Keyless) validate(path string) error {
	switch {
	case k.CertificateIdentity == "" && k.CertificateIdentityRegExp == "":
		return invalid(path, "certificateIdentity or certificateIdentityRegExp is required")
	case k.CertificateIdentity != "" && k.CertificateIdentityRegExp != "":
		return invalid(path, "give certificateIdentity or certificateIdentityRegExp, not both")
	case k.CertificateOIDCIssuer == "" && k.CertificateOIDCIssuerRegExp == "":
		return invalid(path, "certificateOIDCIssuer or certificateOIDCIssuerRegExp is required")
	case k.CertificateOIDCIssuer != "" && k.CertificateOIDCIssuerRegExp != "":
		return invalid(path, "give certificateOIDCIssuer or certificateOIDCIssuerRegExp, not both")
	}
	for _, re := range []struct{ field, expr string }{
		{"certificateIdentityRegExp", k.CertificateIdentityRegExp},
		{"certificateOIDCIssuerRegExp", k.CertificateOIDCIssuerRegExp},
	} {
		if _, err := regexp.Compile(re.expr); err != nil {
			return invalid(path+"."+re.field, "%v", err)
		}
	}
	return nil
}

func (c *Config) validatePredicates() error {
	if len(c.Predicates) == 0 {
		return invalid("predicates", "no predicate type accepted; name the predicate types to accept "+
			"(\"*\" accepts any signed statement about the image)")
	}
	if len(c.Predicates) > MaxPredicates {
		return fmt.Errorf("predicates: %d, more than %d: %w: %w", len(c.Predicates), MaxPredicates, errdef.ErrSizeExceedsLimit, errdef.ErrInvalidConfig)
	}
	seen := map[string]int{}
	for i, p := range c.Predicates {
		path := fmt.Sprintf("predicates[%d]", i)
		if j, dup := seen[p.PredicateType]; dup {
			return invalid(path+".predicateType", "%q is also the type of predicates[%d]", p.PredicateType, j)
		}
		seen[p.PredicateType] = i
		switch {
		case strings.TrimSpace(p.PredicateType) == "":
			return invalid(path+".predicateType", "a predicate type is required (\"*\" for any)")
		case p.SLSA != nil && p.PredicateType != PredicateSLSAProvenanceV1:
			return invalid(path+".slsa", "SLSA checks apply to predicate type %s only", PredicateSLSAProvenanceV1)
		case p.SLSA != nil && *p.SLSA == SLSA{}:
			return invalid(path+".slsa", "give builderID, sourceRepository or sourceRef")
		case p.Rego != "" && p.RegoFile != "":
			return invalid(path, "give rego or regoFile, not both")
		}
	}
	return nil
}

// invalid is a configuration error at a JSON path.
func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", path, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}
