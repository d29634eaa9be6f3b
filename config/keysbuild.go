package config

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"

	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/files"
	"github.com/openratify/ratify/keys/inline"
	"github.com/openratify/ratify/verifier/notation"
)

// BuildKeyProviders builds the providers keyManagementProviders declares,
// by name. Nothing is fetched yet: providers read their sources when a
// verification first asks for their material.
func BuildKeyProviders(cfg *Config, opts BuildOptions) (map[string]keys.Provider, error) {
	out := make(map[string]keys.Provider, len(cfg.KeyManagementProviders))
	for i, k := range cfg.KeyManagementProviders {
		var (
			p   keys.Provider
			err error
		)
		if opts.KeyPool != nil {
			p, err = opts.KeyPool.provider(cfg, k, opts)
		} else {
			p, err = buildKeyProvider(cfg, k, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("keyManagementProviders[%d] (%s): %w", i, k.Name, err)
		}
		out[k.Name] = p
	}
	return out, nil
}

func buildKeyProvider(cfg *Config, k KeyProvider, opts BuildOptions) (keys.Provider, error) {
	switch {
	case k.Inline != nil:
		return inline.New(k.Name, *k.Inline)
	case k.Files != nil:
		fc := *k.Files
		fc.Paths = make([]string, len(k.Files.Paths))
		for i, p := range k.Files.Paths {
			fc.Paths[i] = cfg.path(p)
		}
		return files.New(fc)
	case k.AzureKeyVault != nil:
		return azurekeyvault.New(*k.AzureKeyVault, opts.KeyVault)
	}
	return nil, invalid("keyManagementProviders", "provider %q has no parameters", k.Name)
}

// certStoresTrustStore returns the trust store serving a notation
// verifier's verificationCertStores from providers, or nil when it has none.
// With deferMissing, a provider that is not declared is no error here: its
// store fails at verification time (errdef.ErrTrustMaterialUnavailable).
func certStoresTrustStore(stores CertStores, providers map[string]keys.Provider, deferMissing bool) (notation.SourceTrustStore, error) {
	if len(stores) == 0 {
		return nil, nil
	}
	ts := notation.SourceTrustStore{}
	for _, typ := range slices.Sorted(maps.Keys(stores)) {
		byName := stores[typ]
		t := truststore.Type(typ)
		ts[t] = map[string][]notation.CertificateSource{}
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			for _, ref := range byName[name] {
				p, ok := providers[ref]
				switch {
				case !ok && !deferMissing:
					return nil, invalid("verificationCertStores."+typ+"."+name, "no key management provider named %q", ref)
				case !ok:
					p = undeclared(ref)
				}
				ts[t][name] = append(ts[t][name], providerCerts{p})
			}
		}
	}
	return ts, nil
}

// providerCerts serves a key management provider's certificates to a
// notation trust store.
type providerCerts struct{ p keys.Provider }

func (c providerCerts) Certificates(ctx context.Context) ([]*x509.Certificate, error) {
	m, err := c.p.Material(ctx)
	if err != nil {
		return nil, err
	}
	return m.X509(), nil
}

// undeclared is a key management provider that a verifier names but no
// configuration declares (Parts.DeferKeyReferences): it has no material, so
// verifications that need it cannot run.
type undeclared string

// Material fails with errdef.ErrTrustMaterialUnavailable (keys.Provider).
func (u undeclared) Material(context.Context) (keys.Material, error) {
	return keys.Material{}, fmt.Errorf("key management provider %q is not declared: %w", string(u), errdef.ErrTrustMaterialUnavailable)
}

// Status reports the provider as missing (keys.Provider).
func (u undeclared) Status() keys.Status {
	return keys.Status{Error: "not declared", BriefError: "not declared"}
}

// withUndeclared returns providers plus an undeclared provider for each
// name in names that providers lacks.
func withUndeclared(providers map[string]keys.Provider, names []string) map[string]keys.Provider {
	out := providers
	for _, n := range names {
		if _, ok := providers[n]; ok {
			continue
		}
		if len(out) == len(providers) {
			out = make(map[string]keys.Provider, len(providers)+len(names))
			for k, v := range providers {
				out[k] = v
			}
		}
		out[n] = undeclared(n)
	}
	return out
}
