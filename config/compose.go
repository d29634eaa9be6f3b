package config

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
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
}

// IsZero reports whether p replaces nothing.
func (p Parts) IsZero() bool {
	return p.Stores == nil && p.Verifiers == nil && p.Policy == nil
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
