package config

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/policy/configpolicy"
	"github.com/openratify/ratify/store/registry"
	"github.com/openratify/ratify/verifier/notation"
)

// BuildOptions carry what the configuration file does not say.
type BuildOptions struct {
	// Transport is the base HTTP transport to registries; nil means the default.
	Transport http.RoundTripper
	// CRLCacheDir is where fetched CRLs are kept when crl.cache.enabled is
	// true; empty means the user cache directory (~/.cache/ratify/crl).
	CRLCacheDir string
	// Timeout is the deadline of one subject's verification; zero means
	// executor.verificationRequestTimeout.
	Timeout time.Duration
	// OnRegistryResponse, when set, observes every exchange with a registry
	// (see registry.Options.OnResponse).
	OnRegistryResponse func(host string, status int)
	// WrapStore, when set, wraps the store the executor reads through (to
	// add caching).
	WrapStore func(ratify.Store) ratify.Store
	// OnVerifier, when set, observes every verifier call (see ratify.Executor).
	OnVerifier func(v ratify.Verifier, d time.Duration, report ratify.Report, err error)
}

// Build turns a validated configuration into a ready Executor.
func Build(cfg *Config, opts BuildOptions) (*ratify.Executor, error) {
	registryStore, err := BuildStore(cfg, opts)
	if err != nil {
		return nil, err
	}
	var store ratify.Store = registryStore
	if opts.WrapStore != nil {
		store = opts.WrapStore(store)
	}
	policy, err := configpolicy.New(cfg.Policy.Plugin.ArtifactVerificationPolicies)
	if err != nil {
		return nil, err
	}
	verifiers := make([]ratify.Verifier, 0, len(cfg.Verifier.Entries))
	for i, entry := range cfg.Verifier.Entries {
		v, err := buildVerifier(cfg, entry, opts)
		if err != nil {
			return nil, fmt.Errorf("verifier.plugins[%d] (%s): %w", i, entry.Common().Name, err)
		}
		verifiers = append(verifiers, v)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = cfg.Executor.VerificationTimeout()
	}
	return &ratify.Executor{Store: store, Verifiers: verifiers, Policy: policy, Timeout: timeout, OnVerifier: opts.OnVerifier}, nil
}

// VerificationTimeout returns executor.verificationRequestTimeout as a duration.
func (e ExecutorSection) VerificationTimeout() time.Duration {
	if e.VerificationRequestTimeout == nil {
		return DefaultVerificationRequestTimeout * time.Millisecond
	}
	return time.Duration(*e.VerificationRequestTimeout) * time.Millisecond
}

// MutationTimeout returns executor.mutationRequestTimeout as a duration.
func (e ExecutorSection) MutationTimeout() time.Duration {
	if e.MutationRequestTimeout == nil {
		return DefaultMutationRequestTimeout * time.Millisecond
	}
	return time.Duration(*e.MutationRequestTimeout) * time.Millisecond
}

// BuildStore builds the registry store that store.plugins configures.
func BuildStore(cfg *Config, opts BuildOptions) (*registry.Store, error) {
	p := cfg.Store.Plugins[0]
	ropts := registry.Options{
		PlainHTTP:     p.UseHTTP,
		CosignEnabled: p.CosignEnabled,
		Transport:     opts.Transport,
		OnResponse:    opts.OnRegistryResponse,
	}
	if len(p.RegistryCABundles) > 0 {
		ropts.CABundles = make(map[string]string, len(p.RegistryCABundles))
		for host, file := range p.RegistryCABundles {
			ropts.CABundles[host] = cfg.path(file)
		}
	}
	configPath := ""
	if p.AuthProvider != nil && p.AuthProvider.ConfigPath != "" {
		configPath = cfg.path(p.AuthProvider.ConfigPath)
	}
	cred, err := registry.DockerCredential(configPath)
	if err != nil {
		return nil, fmt.Errorf("store.plugins[0].authProvider: %w", err)
	}
	ropts.Credential = cred
	return registry.New(ropts)
}

func buildVerifier(cfg *Config, entry VerifierEntry, opts BuildOptions) (ratify.Verifier, error) {
	n := entry.Notation
	certs := make([]string, len(n.VerificationCerts))
	for i, c := range n.VerificationCerts {
		certs[i] = cfg.path(c)
	}
	nopts := notation.Options{}
	if cfg.CRL.CacheEnabled() {
		nopts.CRLCacheDir = opts.CRLCacheDir
		if nopts.CRLCacheDir == "" {
			if dir, err := os.UserCacheDir(); err == nil {
				nopts.CRLCacheDir = filepath.Join(dir, "ratify", "crl")
			}
		}
	}
	return notation.New(notation.Config{
		Name:              n.Name,
		ArtifactTypes:     n.ArtifactTypes,
		VerificationCerts: certs,
		TrustPolicyDoc:    n.TrustPolicyDoc,
		NestedReferences:  n.NestedReferences,
	}, nopts)
}

// path resolves a path from the config file against the file's directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}
