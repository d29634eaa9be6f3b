package config

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/openratify/ratify/verifier/attestation"
	"github.com/openratify/ratify/verifier/cosign"
	"github.com/openratify/ratify/verifier/sbom"
	"github.com/openratify/ratify/verifier/schemavalidator"
	"github.com/openratify/ratify/verifier/vulnerabilityreport"
)

// NotationArtifactType is the artifact type of Notary Project signatures.
const NotationArtifactType = "application/vnd.cncf.notary.signature"

// VerifierSection is config.json's "verifier". Its plugins differ by type,
// so each entry is decoded strictly into the type its name (or type) selects.
type VerifierSection struct {
	Version string            `json:"version"`
	Plugins []json.RawMessage `json:"plugins"`
	// PluginBinDirs are where external verifier plugins are looked up
	// (default ~/.ratify/plugins), as in Ratify v1.
	PluginBinDirs []string `json:"pluginBinDirs"`

	// Entries are the decoded plugins, in file order.
	Entries []VerifierEntry `json:"-"`
}

// VerifierEntry is one decoded verifier; exactly one of its pointers is set.
type VerifierEntry struct {
	Notation            *NotationVerifier
	Cosign              *CosignVerifier
	SBOM                *SBOMVerifier
	VulnerabilityReport *VulnerabilityReportVerifier
	SchemaValidator     *SchemaValidatorVerifier
	Attestation         *AttestationVerifier
	Plugin              *PluginVerifier
}

// Common returns the fields every verifier has.
func (e VerifierEntry) Common() VerifierCommon {
	switch {
	case e.Cosign != nil:
		return e.Cosign.VerifierCommon
	case e.SBOM != nil:
		return e.SBOM.VerifierCommon
	case e.VulnerabilityReport != nil:
		return e.VulnerabilityReport.VerifierCommon
	case e.SchemaValidator != nil:
		return e.SchemaValidator.VerifierCommon
	case e.Attestation != nil:
		return e.Attestation.VerifierCommon
	case e.Plugin != nil:
		return e.Plugin.VerifierCommon
	}
	return e.Notation.VerifierCommon
}

// SBOMVerifier configures the SBOM verifier (SPDX and CycloneDX JSON):
// disallowed licenses and packages, see verifier/sbom.
type SBOMVerifier struct {
	VerifierCommon
	sbom.Settings
}

// VulnerabilityReportVerifier configures the vulnerability report verifier
// (SARIF 2.1.0 as Trivy and Grype write it), see verifier/vulnerabilityreport.
type VulnerabilityReportVerifier struct {
	VerifierCommon
	vulnerabilityreport.Settings
}

// SchemaValidatorVerifier configures the JSON Schema verifier, see
// verifier/schemavalidator.
type SchemaValidatorVerifier struct {
	VerifierCommon
	schemavalidator.Settings
}

// AttestationVerifier configures the in-toto attestation verifier (SLSA
// provenance, Rego checks), see verifier/attestation.
type AttestationVerifier struct {
	VerifierCommon
	attestation.Settings
}

func (s *SchemaValidatorVerifier) config() schemavalidator.Config {
	return schemavalidator.Config{Name: s.Name, Type: s.Kind(), ArtifactTypes: schemavalidator.List(s.ArtifactTypes),
		NestedReferences: schemavalidator.List(s.NestedReferences), Settings: s.Settings}
}

func (a *AttestationVerifier) config() attestation.Config {
	return attestation.Config{Name: a.Name, Type: a.Kind(), ArtifactTypes: attestation.List(a.ArtifactTypes),
		NestedReferences: attestation.List(a.NestedReferences), Settings: a.Settings}
}

// keyProviders names the key management providers the verifier's keys
// name.
func (a *AttestationVerifier) keyProviders() []string {
	var names []string
	for _, k := range a.Keys {
		if k.Provider != "" {
			names = append(names, k.Provider)
		}
	}
	return names
}

// PluginVerifier is a verifier of a type ratify does not have built in: an
// external plugin, run with Ratify v1's protocol (verifier/plugin). Its
// entry is passed to the plugin as written.
type PluginVerifier struct {
	VerifierCommon
	Raw json.RawMessage
}

// decodeEntry decodes raw strictly into entry (a pointer to one of the
// entry types), refuses plugin downloads, and runs validate.
func decodeEntry(raw json.RawMessage, entry any, common func() VerifierCommon, validate func() error, path string) error {
	if err := decodeValue(raw, reflect.ValueOf(entry).Elem(), path); err != nil {
		return err
	}
	if src := common().Source; len(src) > 0 && string(src) != "null" {
		return invalid(path+".source", "downloading verifier plugins is not supported")
	}
	if err := validate(); err != nil {
		return fmt.Errorf("%s.%w", path, err)
	}
	return nil
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
		case "sbom":
			e := &SBOMVerifier{}
			entry.SBOM = e
			if err := decodeEntry(raw, e, func() VerifierCommon { return e.VerifierCommon }, e.Settings.Validate, path); err != nil {
				return err
			}
		case "vulnerabilityreport":
			e := &VulnerabilityReportVerifier{}
			entry.VulnerabilityReport = e
			if err := decodeEntry(raw, e, func() VerifierCommon { return e.VerifierCommon }, e.Settings.Validate, path); err != nil {
				return err
			}
		case "schemavalidator":
			e := &SchemaValidatorVerifier{}
			entry.SchemaValidator = e
			if err := decodeEntry(raw, e, func() VerifierCommon { return e.VerifierCommon }, func() error {
				c := e.config()
				return c.Validate()
			}, path); err != nil {
				return err
			}
		case "attestation":
			e := &AttestationVerifier{}
			entry.Attestation = e
			if err := decodeEntry(raw, e, func() VerifierCommon { return e.VerifierCommon }, func() error {
				c := e.config()
				return c.Validate()
			}, path); err != nil {
				return err
			}
		default:
			// Any other type is an external plugin of that name, as in
			// Ratify v1; its fields are the plugin's own.
			e := &PluginVerifier{Raw: raw}
			if err := json.Unmarshal(raw, &e.VerifierCommon); err != nil {
				return invalid(path, "%v", err)
			}
			if len(e.Source) > 0 && string(e.Source) != "null" {
				return invalid(path+".source", "downloading verifier plugins is not supported; put the executable in verifier.pluginBinDirs")
			}
			entry.Plugin = e
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
