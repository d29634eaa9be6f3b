package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"

	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/files"
	"github.com/openratify/ratify/keys/inline"
)

// Key management provider types (Ratify v1's KeyManagementProvider
// spec.type, plus files).
const (
	KeyProviderInline        = "inline"
	KeyProviderFiles         = "files"
	KeyProviderAzureKeyVault = "azurekeyvault"
)

// KeyProviders is config.json's "keyManagementProviders", a ratify
// extension: Ratify v1 declares key management providers only as
// Kubernetes resources, so its CLI cannot use verificationCertStores. Each
// entry has the shape of a KeyManagementProvider's spec with a name:
//
//	"keyManagementProviders": [
//	  {"name": "akv", "type": "azurekeyvault", "parameters": {"vaultURI": "https://v.vault.azure.net/",
//	    "tenantID": "...", "clientID": "...", "certificates": [{"name": "signer"}]}},
//	  {"name": "ca", "type": "inline", "parameters": {"contentType": "certificate", "value": "-----BEGIN..."}},
//	  {"name": "mounted", "type": "files", "parameters": {"paths": ["/etc/ratify/certs"]}}
//	]
//
// A notation verifier's verificationCertStores names them.
type KeyProviders []KeyProvider

// KeyProvider is one key management provider; exactly one of its
// parameter pointers is set, the one its Type selects.
type KeyProvider struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Parameters json.RawMessage `json:"parameters"`

	Inline        *inline.Config        `json:"-"`
	Files         *files.Config         `json:"-"`
	AzureKeyVault *azurekeyvault.Config `json:"-"`
}

// decode decodes every entry's parameters strictly into its type's
// configuration and validates it.
func (ks KeyProviders) decode() error {
	var names []string
	for i := range ks {
		k := &ks[i]
		path := fmt.Sprintf("keyManagementProviders[%d]", i)
		if k.Name == "" {
			return invalid(path+".name", "every key management provider needs a name")
		}
		if j := slices.Index(names, k.Name); j >= 0 {
			return invalid(path+".name", "%q is also the name of keyManagementProviders[%d]", k.Name, j)
		}
		names = append(names, k.Name)
		var target any
		var validate func() error
		switch k.Type {
		case KeyProviderInline:
			k.Inline = &inline.Config{}
			target, validate = k.Inline, func() error { return k.Inline.Validate() }
		case KeyProviderFiles:
			k.Files = &files.Config{}
			target, validate = k.Files, func() error { return k.Files.Validate() }
		case KeyProviderAzureKeyVault:
			k.AzureKeyVault = &azurekeyvault.Config{}
			target, validate = k.AzureKeyVault, func() error { return k.AzureKeyVault.Validate() }
		default:
			return invalid(path+".type", "unknown key management provider type %q (available: inline, files, azurekeyvault)", k.Type)
		}
		params := k.Parameters
		if len(params) == 0 {
			params = json.RawMessage("{}")
		}
		if err := decodeValue(params, reflect.ValueOf(target).Elem(), path+".parameters"); err != nil {
			return err
		}
		if err := validate(); err != nil {
			return fmt.Errorf("%s.parameters.%w", path, err)
		}
	}
	return nil
}

// find returns the provider named name.
func (ks KeyProviders) find(name string) (KeyProvider, bool) {
	i := slices.IndexFunc(ks, func(k KeyProvider) bool { return k.Name == name })
	if i < 0 {
		return KeyProvider{}, false
	}
	return ks[i], true
}

// Trust store types of the Notary Project trust store specification.
const (
	storeTypeCA               = "ca"
	storeTypeSigningAuthority = "signingAuthority"
	storeTypeTSA              = "tsa"
)

// CertStores is a notation verifier's verificationCertStores: for each
// Notary Project trust store type and store name, the key management
// providers whose certificates the store holds. It is read in both of
// Ratify v1's forms: since v1.1, {"ca": {"store": ["kmp", ...]}, "tsa":
// {...}, "signingAuthority": {...}}; before, {"store": ["kmp", ...]},
// meaning stores of type ca.
type CertStores map[string]map[string][]string

// UnmarshalJSON reads either form; a key whose value is an array is a ca
// store of the older form.
func (c *CertStores) UnmarshalJSON(data []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("expected an object mapping trust store types or names to providers")
	}
	out := CertStores{}
	for _, key := range slices.Sorted(maps.Keys(top)) {
		raw := top[key]
		var names []string
		if err := json.Unmarshal(raw, &names); err == nil {
			add(out, storeTypeCA, key, names)
			continue
		}
		if key != storeTypeCA && key != storeTypeSigningAuthority && key != storeTypeTSA {
			return fmt.Errorf("%s: not a trust store type (ca, signingAuthority, tsa), nor a store name mapped to an array of provider names", strconv.Quote(key))
		}
		var stores map[string][]string
		if err := json.Unmarshal(raw, &stores); err != nil {
			return fmt.Errorf("%s: expected an object mapping store names to arrays of provider names", key)
		}
		for name, names := range stores {
			add(out, key, name, names)
		}
	}
	*c = out
	return nil
}

func add(c CertStores, typ, name string, providers []string) {
	if c[typ] == nil {
		c[typ] = map[string][]string{}
	}
	c[typ][name] = append(c[typ][name], providers...)
}

// checkReferences makes sure every provider a store names is configured.
func (c CertStores) checkReferences(path string, ks KeyProviders) error {
	for _, typ := range sortedKeys(c) {
		for _, name := range sortedKeys(c[typ]) {
			for i, p := range c[typ][name] {
				if _, ok := ks.find(p); !ok {
					return invalid(fmt.Sprintf("%s.%s.%s[%d]", path, typ, name, i),
						"no key management provider named %q (declare it in keyManagementProviders)", p)
				}
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkKeyReferences makes sure every key management provider that a
// verifier names is declared.
func (c *Config) checkKeyReferences() error {
	if c.DeferKeyReferences {
		return nil
	}
	for i, e := range c.Verifier.Entries {
		var named []string
		switch {
		case e.Cosign != nil:
			named = e.Cosign.keyProviders()
		case e.Attestation != nil:
			named = e.Attestation.keyProviders()
		}
		if e.Cosign != nil || e.Attestation != nil {
			for _, name := range named {
				if _, ok := c.KeyManagementProviders.find(name); !ok {
					return invalid(fmt.Sprintf("verifier.plugins[%d]", i),
						"no key management provider named %q (declare it in keyManagementProviders)", name)
				}
			}
			continue
		}
		if e.Notation == nil {
			continue
		}
		path := fmt.Sprintf("verifier.plugins[%d].verificationCertStores", i)
		if err := e.Notation.VerificationCertStores.checkReferences(path, c.KeyManagementProviders); err != nil {
			return err
		}
	}
	return nil
}
