package cosign

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// TrustPolicyVersion is the only trust policy version Ratify v1's cosign
// verifier defines; an empty version means it.
const TrustPolicyVersion = "1.0.0"

// Config is Ratify v1's cosign verifier entry of config.json
// (verifier.plugins[] with "name":"cosign"), typed. Its JSON field names are
// v1's. Either TrustPolicies or the deprecated single Key is given, never
// both.
type Config struct {
	// Name is the instance name reports carry; empty means "cosign".
	Name string `json:"name"`
	// Type is the verifier type; empty or "cosign".
	Type string `json:"type,omitempty"`
	// ArtifactTypes are the artifact types this verifier handles; empty
	// means ArtifactTypeSignature and the Sigstore bundle types.
	ArtifactTypes List `json:"artifactTypes,omitempty"`
	// NestedReferences are artifact types whose referrers of a signature
	// must themselves be verified.
	NestedReferences List `json:"nestedReferences,omitempty"`

	Settings
}

// Settings are the fields of a cosign verifier entry that are particular
// to cosign, apart from the fields every verifier entry has. A config
// loader that decodes the common fields itself embeds Settings.
type Settings struct {
	// Key is Ratify v1's deprecated single public key: a PEM file whose
	// keys verify every subject ("*"), without transparency log checks
	// unless RekorURL is set.
	Key string `json:"key,omitempty"`
	// RekorURL is Ratify v1's deprecated Rekor server for the single-key
	// form: with Key it turns transparency log verification on (see
	// TrustPolicy.RekorURL); alone (keyless verification of any identity)
	// it is refused.
	RekorURL string `json:"rekorURL,omitempty"`
	// TrustedRootFile is a Sigstore trusted_root.json for the single-key
	// form; without it the root comes through TUF. An extension of v1.
	TrustedRootFile string `json:"trustedRootFile,omitempty"`
	// TrustPolicies say which keys or identities are trusted for which
	// repositories.
	TrustPolicies []TrustPolicy `json:"trustPolicies,omitempty"`
	// TUFMirror is the base URL (http or https) of the TUF repository (The
	// Update Framework specification v1.0) whose target trusted_root.json
	// is the Sigstore trusted root of every trust policy of this entry
	// that needs one and has no trustedRootFile: a private Sigstore
	// deployment's repository, or a mirror of the public one. It needs
	// TUFRootFile. Empty means the runtime's repository (Options.TUF), by
	// default the public Sigstore instance's. An extension of v1.
	TUFMirror string `json:"tufMirror,omitempty"`
	// TUFRootFile is a root.json of TUFMirror (TUF root metadata, not a
	// Sigstore trusted root): the trust anchor from which the repository's
	// current metadata is verified. Required with TUFMirror, and only
	// with it. An extension of v1.
	TUFRootFile string `json:"tufRootFile,omitempty"`
}

// TrustPolicy is one of Ratify v1's cosign trust policies: the repositories
// it applies to and the keys, or the keyless identity, it trusts.
type TrustPolicy struct {
	// Version is TrustPolicyVersion or empty.
	Version string `json:"version,omitempty"`
	Name    string `json:"name"`
	// Scopes name the repositories the policy applies to: "*" (every
	// repository not in another policy's scope), "registry/repository"
	// (exactly that repository) or "registry/path/*" (every repository
	// under that path). Scopes of different policies never overlap.
	Scopes []string `json:"scopes"`
	// Keys are the trusted public keys; Keys and Keyless exclude each other.
	Keys []KeyRef `json:"keys,omitempty"`
	// Keyless trusts Fulcio certificates of one identity and issuer.
	Keyless *Keyless `json:"keyless,omitempty"`
	// TLogVerify requires a verified transparency log (Rekor) entry with
	// every signature, checked offline from the inclusion promise or proof
	// the signature carries, against the logs of the trusted root. Unset
	// means true for keyless policies and policies with a TrustedRootFile
	// (Ratify v1's default), and false for other key policies, so that
	// static keys need no trusted root and no network (Ratify v1 defaulted
	// to true and asked Rekor online).
	TLogVerify *bool `json:"tLogVerify,omitempty"`
	// RekorURL names the Rekor instance whose entries are trusted, and is
	// never contacted: with TLogVerify it must be the base URL of one of
	// the trusted root's transparency logs (its tlogs[].baseUrl), which a
	// trusted root file is checked for when the verifier is built and a
	// root from TUF when it is fetched. A private Rekor therefore needs
	// the trusted root of its deployment (TrustedRootFile, or the entry's
	// tufMirror). Entries of every log of the trusted root verify.
	RekorURL string `json:"rekorURL,omitempty"`
	// TrustedRootFile is a Sigstore trusted_root.json (the trusted root
	// media type application/vnd.dev.sigstore.trustedroot+json;version=0.1):
	// the Fulcio CAs, Rekor and CT logs and timestamp authorities of a
	// public, private or air-gapped Sigstore deployment. Without it,
	// keyless and TLogVerify policies use the trusted root of the TUF
	// repository (Settings.TUFMirror, or the public Sigstore instance's),
	// fetched at the first verification that needs it, as Ratify v1 did.
	// An extension of v1.
	TrustedRootFile string `json:"trustedRootFile,omitempty"`
}

// KeyRef names trusted public keys: a PEM file, or the keys of a key
// management provider (all of them, or one by name and version).
type KeyRef struct {
	// Provider is the name of a key management provider.
	Provider string `json:"provider,omitempty"`
	// Name and Version select one key of the provider; empty Name means
	// every key, empty Version every version of the named key.
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// File is a PEM file of public keys (RFC 7468 "PUBLIC KEY").
	File string `json:"file,omitempty"`
}

// Keyless trusts signatures whose Fulcio certificate names an identity (a
// subject alternative name) issued by an OIDC issuer, each given exactly
// or as a regular expression (Go RE2 syntax, unanchored, as cosign's
// --certificate-identity-regexp).
type Keyless struct {
	CertificateIdentity         string `json:"certificateIdentity,omitempty"`
	CertificateIdentityRegExp   string `json:"certificateIdentityRegExp,omitempty"`
	CertificateOIDCIssuer       string `json:"certificateOIDCIssuer,omitempty"`
	CertificateOIDCIssuerRegExp string `json:"certificateOIDCIssuerRegExp,omitempty"`
	// CTLogVerify requires a verified signed certificate timestamp (RFC
	// 6962) from a CT log of the trusted root; unset means true.
	CTLogVerify *bool `json:"ctLogVerify,omitempty"`
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

// Validate checks the configuration without reading any file. Errors wrap
// errdef.ErrInvalidConfig and name the JSON path of the offending value
// ("trustPolicies[1].keys[0]").
func (c *Config) Validate() error {
	if c.Type != "" && c.Type != VerifierType {
		return invalid("type", "%q is not %q", c.Type, VerifierType)
	}
	legacy := c.Key != "" || c.RekorURL != "" || c.TrustedRootFile != ""
	switch {
	case legacy && len(c.TrustPolicies) > 0:
		return invalid("key", "key, rekorURL and trustedRootFile are the deprecated single-key form and cannot be combined with trustPolicies; "+
			"move the key into a trust policy's keys")
	case c.Key == "" && c.RekorURL != "":
		return fmt.Errorf("rekorURL: keyless verification of any identity (rekorURL without key) is not supported; "+
			"configure trustPolicies with a keyless identity and issuer: %w: %w", errdef.ErrUnsupported, errdef.ErrInvalidConfig)
	case c.Key == "" && c.TrustedRootFile != "":
		return invalid("trustedRootFile", "only used with key; give trust policies their own trustedRootFile")
	case !legacy && len(c.TrustPolicies) == 0:
		return invalid("trustPolicies", "no trust policies and no key: nothing would be trusted")
	}
	if err := c.validateTUF(); err != nil {
		return err
	}
	names := map[string]int{}
	for i := range c.TrustPolicies {
		p := &c.TrustPolicies[i]
		path := fmt.Sprintf("trustPolicies[%d]", i)
		if j, dup := names[p.Name]; dup {
			return invalid(path+".name", "%q is also the name of trustPolicies[%d]", p.Name, j)
		}
		names[p.Name] = i
		if err := p.validate(path); err != nil {
			return err
		}
	}
	_, err := parseScopes(c.TrustPolicies)
	return err
}

func (p *TrustPolicy) validate(path string) error {
	switch {
	case p.Version != "" && p.Version != TrustPolicyVersion:
		return invalid(path+".version", "unsupported version %q (supported: %q)", p.Version, TrustPolicyVersion)
	case p.Name == "":
		return invalid(path+".name", "every trust policy needs a name")
	case len(p.Scopes) == 0:
		return invalid(path+".scopes", "trust policy %q has no scopes", p.Name)
	case len(p.Keys) == 0 && p.Keyless == nil:
		return invalid(path, "trust policy %q has neither keys nor keyless", p.Name)
	case len(p.Keys) > 0 && p.Keyless != nil:
		return invalid(path, "trust policy %q has both keys and keyless; use two policies", p.Name)
	}
	if slices.Contains(p.Scopes, "*") && len(p.Scopes) > 1 {
		return invalid(path+".scopes", "trust policy %q: \"*\" cannot be combined with other scopes", p.Name)
	}
	for j, k := range p.Keys {
		kp := fmt.Sprintf("%s.keys[%d]", path, j)
		switch {
		case k.File == "" && k.Provider == "":
			return invalid(kp, "a key needs a file or a provider")
		case k.File != "" && (k.Provider != "" || k.Name != "" || k.Version != ""):
			return invalid(kp, "file cannot be combined with provider, name or version")
		case k.Version != "" && k.Name == "":
			return invalid(kp+".version", "a key version needs a key name")
		}
	}
	if p.Keyless != nil {
		return p.Keyless.validate(path + ".keyless")
	}
	return nil
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

// validateTUF checks tufMirror and tufRootFile, which go together.
func (c *Config) validateTUF() error {
	switch {
	case c.TUFMirror == "" && c.TUFRootFile != "":
		return invalid("tufRootFile", "only used with tufMirror")
	case c.TUFMirror == "":
		return nil
	case c.TUFRootFile == "":
		return invalid("tufRootFile", "tufMirror %q needs the repository's root.json, the trust anchor its metadata is verified from", c.TUFMirror)
	}
	return validMirror("tufMirror", c.TUFMirror)
}

// validMirror checks that mirror is an absolute http or https URL.
func validMirror(path, mirror string) error {
	u, err := url.Parse(mirror)
	if err != nil {
		return invalid(path, "%v", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return invalid(path, "%q is not an http or https URL without query or fragment", mirror)
	}
	return nil
}

// invalid is a configuration error at a JSON path.
func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", path, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}
