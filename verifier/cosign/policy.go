package cosign

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/keys"
)

// MaxKeysPerPolicy bounds the keys one trust policy tries on each
// signature, after its key management providers are asked: every
// signature is checked against every key.
const MaxKeysPerPolicy = 64

// policy is a TrustPolicy ready to verify with: key files read, trusted
// root parsed or its TUF source found, providers found.
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
	// rekorURL, when set with tlog, must be the base URL of a log of the
	// trusted root.
	rekorURL string
	// trusted is the trusted root of the policy's trustedRootFile; tuf,
	// when set instead, serves the root of a TUF repository. With neither,
	// the policy needs no trusted root.
	trusted root.TrustedMaterial
	tuf     *tufRoot
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

// newPolicy builds a trust policy from its (validated) configuration. A
// policy that needs a trusted root (keyless, or tlog) and names no file
// gets tuf, which is not contacted until a verification needs it.
func newPolicy(cfg TrustPolicy, scopes []scope, opts Options, tuf *tufRoot) (*policy, error) {
	p := &policy{name: cfg.Name, scopes: scopes, rekorURL: cfg.RekorURL}
	p.tlog = cfg.TrustedRootFile != "" || cfg.Keyless != nil
	if cfg.TLogVerify != nil {
		p.tlog = *cfg.TLogVerify
	}
	if cfg.Keyless != nil {
		k := cfg.Keyless
		id, err := verify.NewShortCertificateIdentity(k.CertificateOIDCIssuer, k.CertificateOIDCIssuerRegExp,
			k.CertificateIdentity, k.CertificateIdentityRegExp)
		if err != nil {
			return nil, fmt.Errorf("trust policy %q: keyless: %v: %w", cfg.Name, err, errdef.ErrInvalidConfig)
		}
		p.keyless = &id
		p.ctlog = k.CTLogVerify == nil || *k.CTLogVerify
	}
	switch {
	case cfg.TrustedRootFile != "":
		tr, err := readTrustedRoot(resolve(opts.BaseDir, cfg.TrustedRootFile))
		if err != nil {
			return nil, fmt.Errorf("trust policy %q: trustedRootFile: %v: %w", cfg.Name, err, errdef.ErrInvalidConfig)
		}
		if err := p.suits(tr, "trustedRootFile "+cfg.TrustedRootFile, errdef.ErrInvalidConfig); err != nil {
			return nil, err
		}
		p.trusted = tr
	case p.tlog || p.keyless != nil:
		p.tuf = tuf
	}
	if err := p.addKeys(cfg, opts); err != nil {
		return nil, err
	}
	return p, nil
}

// addKeys reads the policy's key files and finds its providers.
func (p *policy) addKeys(cfg TrustPolicy, opts Options) error {
	for _, k := range cfg.Keys {
		if k.File != "" {
			got, err := readKeyFile(resolve(opts.BaseDir, k.File))
			if err != nil {
				return fmt.Errorf("trust policy %q: %w", cfg.Name, err)
			}
			p.fileKeys = append(p.fileKeys, got...)
			continue
		}
		prov, ok := opts.KeyProviders[k.Provider]
		if !ok || prov == nil {
			return fmt.Errorf("trust policy %q: key management provider %q is not configured: %w", cfg.Name, k.Provider, errdef.ErrInvalidConfig)
		}
		p.providers = append(p.providers, providerKeys{name: k.Provider, provider: prov, key: k.Name, version: k.Version})
	}
	if len(p.fileKeys) > MaxKeysPerPolicy {
		return fmt.Errorf("trust policy %q has %d keys, more than %d: %w: %w", cfg.Name, len(p.fileKeys), MaxKeysPerPolicy,
			errdef.ErrSizeExceedsLimit, errdef.ErrInvalidConfig)
	}
	return nil
}

// suits checks that tm, described by what, has what the policy needs:
// transparency logs (one at rekorURL, when set), certificate authorities
// and CT logs. Errors wrap sentinel, except a missing rekorURL log, which
// is a configuration error wherever the root came from.
func (p *policy) suits(tm root.TrustedMaterial, what string, sentinel error) error {
	var lack string
	switch {
	case p.tlog && len(tm.RekorLogs()) == 0:
		lack = "lists no transparency log (tlogs), and tLogVerify is on"
	case p.tlog && p.rekorURL != "" && !hasLog(tm, p.rekorURL):
		return fmt.Errorf("trust policy %q: rekorURL %s is not the base URL of a transparency log of %s (Rekor is never contacted: "+
			"log entries are verified against the trusted root); give the trusted root of that Sigstore deployment, or remove rekorURL: %w",
			p.name, p.rekorURL, what, errdef.ErrInvalidConfig)
	case p.keyless != nil && len(tm.FulcioCertificateAuthorities()) == 0:
		lack = "lists no certificate authority"
	case p.keyless != nil && p.ctlog && len(tm.CTLogs()) == 0:
		lack = "lists no CT log (ctlogs), and ctLogVerify is on"
	default:
		return nil
	}
	return fmt.Errorf("trust policy %q: %s %s: %w", p.name, what, lack, sentinel)
}

// hasLog reports whether a transparency log of tm has base URL rekorURL
// (compared without a trailing slash, the scheme and host in any case).
func hasLog(tm root.TrustedMaterial, rekorURL string) bool {
	want := normalURL(rekorURL)
	for _, l := range tm.RekorLogs() {
		if normalURL(l.BaseURL) == want {
			return true
		}
	}
	return false
}

func normalURL(s string) string {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return s
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return u.String()
}

// root returns the trusted root to verify with now: the file's, or the
// TUF repository's (fetched when due), checked against what the policy
// needs; nil when the policy needs none. A root that cannot be fetched,
// or lacks what the policy needs, is an error wrapping
// errdef.ErrTrustMaterialUnavailable.
func (p *policy) root(ctx context.Context) (root.TrustedMaterial, error) {
	if p.tuf == nil {
		return p.trusted, nil
	}
	tr, err := p.tuf.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("trust policy %q: %w", p.name, err)
	}
	if err := p.suits(tr, "the trusted root of TUF repository "+p.tuf.mirror, errdef.ErrTrustMaterialUnavailable); err != nil {
		return nil, err
	}
	return tr, nil
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

// material is what sigstore-go verifies against with trusted root tr
// (nil when the policy needs none) and key k (nil for keyless): the key,
// and the trusted root's logs and authorities.
func material(tr root.TrustedMaterial, k *keyVerifier) root.TrustedMaterial {
	var tm root.TrustedMaterialCollection
	if tr != nil {
		tm = append(tm, tr)
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
