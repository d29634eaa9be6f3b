package cosign

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
)

// MaxKeysPerPolicy bounds the keys one trust policy tries on each
// signature, after its key management providers are asked: every
// signature is checked against every key.
const MaxKeysPerPolicy = 64

// policy is a TrustPolicy ready to verify with: key files read, trusted
// root parsed, providers found.
type policy struct {
	name   string
	scopes []scope
	// fileKeys are read once, at New; providers are asked at every
	// verification, since their keys rotate.
	fileKeys  []trustedKey
	providers []providerKeys
	// keyless, when set, is the identity certificates must have.
	keyless *verify.CertificateIdentity
	tlog    bool
	ctlog   bool
	// trusted is the Sigstore trusted root, nil when none is configured.
	trusted root.TrustedMaterial
}

// providerKeys selects keys of a key management provider.
type providerKeys struct {
	name     string
	provider keys.Provider
	key      string
	version  string
}

// keyed reports whether the policy trusts keys rather than an identity.
func (p *policy) keyed() bool { return p.keyless == nil }

// newPolicy builds a trust policy from its (validated) configuration.
func newPolicy(cfg TrustPolicy, scopes []scope, opts Options) (*policy, error) {
	p := &policy{name: cfg.Name, scopes: scopes}
	if cfg.TrustedRootFile != "" {
		tr, err := root.NewTrustedRootFromPath(resolve(opts.BaseDir, cfg.TrustedRootFile))
		if err != nil {
			return nil, fmt.Errorf("trust policy %q: trustedRootFile: %v: %w", cfg.Name, err, errdef.ErrInvalidConfig)
		}
		p.trusted = tr
	}
	p.tlog = p.trusted != nil
	if cfg.TLogVerify != nil {
		p.tlog = *cfg.TLogVerify
	}
	if p.tlog && len(p.trusted.RekorLogs()) == 0 {
		return nil, fmt.Errorf("trust policy %q: tLogVerify is on but trustedRootFile %s lists no transparency log (tlogs): %w",
			cfg.Name, cfg.TrustedRootFile, errdef.ErrInvalidConfig)
	}
	for _, k := range cfg.Keys {
		if k.File != "" {
			got, err := readKeyFile(resolve(opts.BaseDir, k.File))
			if err != nil {
				return nil, fmt.Errorf("trust policy %q: %w", cfg.Name, err)
			}
			p.fileKeys = append(p.fileKeys, got...)
			continue
		}
		prov, ok := opts.KeyProviders[k.Provider]
		if !ok || prov == nil {
			return nil, fmt.Errorf("trust policy %q: key management provider %q is not configured: %w", cfg.Name, k.Provider, errdef.ErrInvalidConfig)
		}
		p.providers = append(p.providers, providerKeys{name: k.Provider, provider: prov, key: k.Name, version: k.Version})
	}
	if len(p.fileKeys) > MaxKeysPerPolicy {
		return nil, fmt.Errorf("trust policy %q has %d keys, more than %d: %w: %w", cfg.Name, len(p.fileKeys), MaxKeysPerPolicy,
			errdef.ErrSizeExceedsLimit, errdef.ErrInvalidConfig)
	}
	if cfg.Keyless != nil {
		if err := p.setKeyless(cfg); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *policy) setKeyless(cfg TrustPolicy) error {
	k := cfg.Keyless
	id, err := verify.NewShortCertificateIdentity(k.CertificateOIDCIssuer, k.CertificateOIDCIssuerRegExp,
		k.CertificateIdentity, k.CertificateIdentityRegExp)
	if err != nil {
		return fmt.Errorf("trust policy %q: keyless: %v: %w", cfg.Name, err, errdef.ErrInvalidConfig)
	}
	p.keyless = &id
	p.ctlog = k.CTLogVerify == nil || *k.CTLogVerify
	switch {
	case len(p.trusted.FulcioCertificateAuthorities()) == 0:
		return fmt.Errorf("trust policy %q: trustedRootFile %s lists no certificate authority: %w", cfg.Name, cfg.TrustedRootFile, errdef.ErrInvalidConfig)
	case p.ctlog && len(p.trusted.CTLogs()) == 0:
		return fmt.Errorf("trust policy %q: ctLogVerify is on but trustedRootFile %s lists no CT log (ctlogs): %w",
			cfg.Name, cfg.TrustedRootFile, errdef.ErrInvalidConfig)
	}
	return nil
}

// keys returns every key the policy trusts now: its files' and its
// providers' current keys. A provider that cannot serve its material, or
// no longer has a named key, is an error wrapping
// errdef.ErrTrustMaterialUnavailable; keys of refused types are returned
// with their reason, and never used.
func (p *policy) keys(ctx context.Context) ([]trustedKey, error) {
	out := append([]trustedKey(nil), p.fileKeys...)
	for _, pk := range p.providers {
		m, err := pk.provider.Material(ctx)
		if err != nil {
			if !errors.Is(err, errdef.ErrTrustMaterialUnavailable) {
				err = fmt.Errorf("%w: %w", errdef.ErrTrustMaterialUnavailable, err)
			}
			return nil, fmt.Errorf("trust policy %q: key management provider %q: %w", p.name, pk.name, err)
		}
		found := false
		for _, k := range m.Keys {
			if pk.key != "" && (k.Properties.Name != pk.key || pk.version != "" && k.Properties.Version != pk.version) {
				continue
			}
			found = true
			info := KeyInfo{Provider: pk.name, Name: k.Properties.Name, Version: k.Properties.Version}
			out = append(out, newTrustedKey(info, k.Key))
		}
		if !found {
			what := "any key"
			if pk.key != "" {
				what = fmt.Sprintf("key %q", pk.key)
				if pk.version != "" {
					what += fmt.Sprintf(" version %q", pk.version)
				}
			}
			return nil, fmt.Errorf("trust policy %q: key management provider %q does not serve %s: %w",
				p.name, pk.name, what, errdef.ErrTrustMaterialUnavailable)
		}
	}
	if len(out) > MaxKeysPerPolicy {
		return nil, fmt.Errorf("trust policy %q: %d keys, more than %d: %w", p.name, len(out), MaxKeysPerPolicy, errdef.ErrSizeExceedsLimit)
	}
	return out, nil
}

// material is what sigstore-go verifies against with key k (nil for
// keyless): the key, and the trusted root's logs and authorities.
func (p *policy) material(k *keyVerifier) root.TrustedMaterial {
	var tm root.TrustedMaterialCollection
	if p.trusted != nil {
		tm = append(tm, p.trusted)
	}
	if k != nil {
		tm = append(tm, k.material())
	}
	return tm
}

// resolve makes a relative path relative to base.
func resolve(base, path string) string {
	if path == "" || base == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(base, path)
}
