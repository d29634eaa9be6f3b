package config

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// Parts are configuration sections supplied from outside config.json, such
// as Kubernetes resources. Each entry is a JSON object in the form of its
// config.json section; a nil field leaves that section as it is.
type Parts struct {
	// Stores replaces store.plugins.
	Stores []json.RawMessage
	// Verifiers replaces verifier.plugins.
	Verifiers []json.RawMessage
	// Policy replaces policy.plugin.
	Policy json.RawMessage
	// KeyProviders are added to keyManagementProviders (whose names they
	// must not repeat); each is an entry of that list: {"name", "type",
	// "parameters"}.
	KeyProviders []json.RawMessage
	// DeferKeyReferences lets a verifier name a key management provider
	// that is not declared: instead of the configuration being refused,
	// that verifier's verifications end in "could not verify" until one is.
	// Kubernetes resources set it, since a Verifier and the
	// KeyManagementProvider it names are created, and deleted, in any order,
	// and deleting trust material must take effect.
	DeferKeyReferences bool
}

// IsZero reports whether p replaces nothing.
func (p Parts) IsZero() bool {
	return p.Stores == nil && p.Verifiers == nil && p.Policy == nil && p.KeyProviders == nil
}

// Compose returns a copy of base with the sections parts supplies replaced,
// decoded strictly and validated as config.json is; errors name the part
// ("verifier.plugins[1].trustPolicyDoc...") and wrap errdef.ErrInvalidConfig.
func Compose(base *Config, parts Parts) (*Config, error) {
	cfg := *base
	if parts.Stores != nil {
		cfg.Store.Plugins = make([]StorePlugin, len(parts.Stores))
		for i, raw := range parts.Stores {
			if err := decodeValue(raw, reflect.ValueOf(&cfg.Store.Plugins[i]).Elem(), fmt.Sprintf("store.plugins[%d]", i)); err != nil {
				return nil, err
			}
		}
	}
	if parts.Verifiers != nil {
		cfg.Verifier.Plugins = parts.Verifiers
		if err := cfg.Verifier.decode(); err != nil {
			return nil, err
		}
	}
	if parts.Policy != nil {
		cfg.Policy.Plugin = PolicyPlugin{}
		if err := decodeValue(parts.Policy, reflect.ValueOf(&cfg.Policy.Plugin).Elem(), "policy.plugin"); err != nil {
			return nil, err
		}
	}
	if parts.KeyProviders != nil {
		ks := slices.Clone(base.KeyManagementProviders)
		for i, raw := range parts.KeyProviders {
			var k KeyProvider
			if err := decodeValue(raw, reflect.ValueOf(&k).Elem(), fmt.Sprintf("keyManagementProviders[%d]", len(ks))); err != nil {
				return nil, fmt.Errorf("key management provider %d of the overlay: %w", i, err)
			}
			ks = append(ks, k)
		}
		if err := ks.decode(); err != nil {
			return nil, err
		}
		cfg.KeyManagementProviders = ks
	}
	cfg.DeferKeyReferences = base.DeferKeyReferences || parts.DeferKeyReferences
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Digest = partsDigest(base.Digest, parts)
	return &cfg, nil
}

// partsDigest identifies base composed with parts.
func partsDigest(base string, parts Parts) string {
	h := sha256.New()
	h.Write([]byte(base))
	b, _ := json.Marshal(parts)
	h.Write(b)
	return fmt.Sprintf("%x", h.Sum(nil))
}
