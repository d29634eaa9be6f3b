package config

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/openratify/ratify/verifier/cosign"
)

// NotationArtifactType is the artifact type of Notary Project signatures.
const NotationArtifactType = "application/vnd.cncf.notary.signature"

// VerifierSection is config.json's "verifier". Its plugins differ by type,
// so each entry is decoded strictly into the type its name (or type) selects.
type VerifierSection struct {
	Version string            `json:"version"`
	Plugins []json.RawMessage `json:"plugins"`

	// Entries are the decoded plugins, in file order.
	Entries []VerifierEntry `json:"-"`
}

// VerifierEntry is one decoded verifier; exactly one of its pointers is set.
type VerifierEntry struct {
	Notation *NotationVerifier
	Cosign   *CosignVerifier
}

// Common returns the fields every verifier has.
func (e VerifierEntry) Common() VerifierCommon {
	if e.Cosign != nil {
		return e.Cosign.VerifierCommon
	}
	return e.Notation.VerifierCommon
}

// CosignVerifier configures the cosign and Sigstore bundle signature
// verifier: Ratify v1's trustPolicies (or its deprecated single key), see
// verifier/cosign.
type CosignVerifier struct {
	VerifierCommon
	cosign.Settings
}

// config returns the verifier package's configuration of c.
func (c *CosignVerifier) config() cosign.Config {
	return cosign.Config{
		Name:             c.Name,
		ArtifactTypes:    cosign.List(c.ArtifactTypes),
		NestedReferences: cosign.List(c.NestedReferences),
		Settings:         c.Settings,
	}
}

func (c *CosignVerifier) validate(path string) error {
	if len(c.Source) > 0 && string(c.Source) != "null" {
		return invalid(path+".source", "downloading verifier plugins is not supported")
	}
	cfg := c.config()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s.%w", path, err)
	}
	return nil
}

// keyProviders names the key management providers c's trust policies name.
func (c *CosignVerifier) keyProviders() []string {
	var names []string
	for _, p := range c.TrustPolicies {
		for _, k := range p.Keys {
			if k.Provider != "" {
				names = append(names, k.Provider)
			}
		}
	}
	return names
}

// VerifierCommon holds the fields of every verifier.plugins entry.
type VerifierCommon struct {
	// Name names the verifier instance; it is also its type when Type is empty.
	Name string `json:"name"`
	// Type is the kind of verifier (notation, cosign, ...).
	Type string `json:"type"`
	// ArtifactTypes lists the artifact types the verifier handles
	// (a comma-separated string, as in Ratify v1, or an array).
	ArtifactTypes List `json:"artifactTypes"`
	// NestedReferences lists artifact types to verify on each verified
	// artifact itself (e.g. the signature of an SBOM).
	NestedReferences List `json:"nestedReferences"`
	// Version, Source and Address describe external plugins in Ratify v1.
	Version string          `json:"version"`
	Source  json.RawMessage `json:"source"`
	Address string          `json:"address"`
}

// Kind returns the verifier's type: Type, or Name when Type is empty.
func (c VerifierCommon) Kind() string {
	if c.Type != "" {
		return c.Type
	}
	return c.Name
}

// NotationVerifier configures the Notary Project signature verifier.
type NotationVerifier struct {
	VerifierCommon
	// VerificationCerts lists directories (or files) of trusted certificates.
	VerificationCerts []string `json:"verificationCerts"`
	// VerificationCertStores maps trust stores to key management providers
	// of keyManagementProviders, in either of Ratify v1's forms (see
	// CertStores). With it, verificationCerts may be empty.
	VerificationCertStores CertStores `json:"verificationCertStores"`
	// TrustPolicyDoc is a Notary Project trust policy document (version 1.0).
	TrustPolicyDoc trustPolicyDocument `json:"trustPolicyDoc"`
}

func (v *VerifierSection) decode() error {
	v.Entries = nil
	names := map[string]int{}
	for i, raw := range v.Plugins {
		path := fmt.Sprintf("verifier.plugins[%d]", i)
		var head struct {
			Name string `json:"name"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return invalid(path, "expected an object with a name")
		}
		common := VerifierCommon{Name: head.Name, Type: head.Type}
		if common.Name == "" {
			return invalid(path+".name", "every verifier needs a name")
		}
		if j, dup := names[common.Name]; dup {
			return invalid(path+".name", "%q is also the name of verifier.plugins[%d]", common.Name, j)
		}
		names[common.Name] = i
		var entry VerifierEntry
		switch common.Kind() {
		case "notation":
			entry.Notation = &NotationVerifier{}
			if err := decodeValue(raw, reflect.ValueOf(entry.Notation).Elem(), path); err != nil {
				return err
			}
			if err := entry.Notation.validate(path); err != nil {
				return err
			}
		case "cosign":
			entry.Cosign = &CosignVerifier{}
			if err := decodeValue(raw, reflect.ValueOf(entry.Cosign).Elem(), path); err != nil {
				return err
			}
			if err := entry.Cosign.validate(path); err != nil {
				return err
			}
		case "sbom", "vulnerabilityreport", "schemavalidator", "licensechecker":
			return invalid(path, "verifier %q is not available in this version of ratify (available: notation, cosign)", common.Kind())
		default:
			return invalid(path, "unknown verifier %q (available: notation, cosign)", common.Kind())
		}
		v.Entries = append(v.Entries, entry)
	}
	return nil
}

func (v *VerifierSection) validate() error {
	if len(v.Plugins) == 0 {
		return invalid("verifier.plugins", "no verifier configured; without one no artifact can pass")
	}
	return nil
}

func (n *NotationVerifier) validate(path string) error {
	if len(n.ArtifactTypes) == 0 {
		n.ArtifactTypes = List{NotationArtifactType}
	}
	if len(n.Source) > 0 && string(n.Source) != "null" {
		return invalid(path+".source", "downloading verifier plugins is not supported")
	}
	if len(n.VerificationCerts) == 0 && len(n.VerificationCertStores) == 0 {
		return invalid(path+".verificationCerts", "no certificate directories and no verificationCertStores given; nothing would be trusted")
	}
	if err := n.TrustPolicyDoc.Validate(); err != nil {
		return invalid(path+".trustPolicyDoc", "%v", err)
	}
	return nil
}
