package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/trace"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/auth/awsecr"
	"github.com/openratify/ratify/auth/azure"
	"github.com/openratify/ratify/auth/k8secrets"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/netguard"
	"github.com/openratify/ratify/keys"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/store/registry"
	"github.com/openratify/ratify/verifier/attestation"
	"github.com/openratify/ratify/verifier/cosign"
	"github.com/openratify/ratify/verifier/notation"
	"github.com/openratify/ratify/verifier/plugin"
	"github.com/openratify/ratify/verifier/sbom"
	"github.com/openratify/ratify/verifier/schemavalidator"
	"github.com/openratify/ratify/verifier/vulnerabilityreport"
)

// BuildOptions carry what the configuration file does not say.
type BuildOptions struct {
	// Transport is the base HTTP transport to registries; nil means the default.
	Transport http.RoundTripper
	// CRLCacheDir is where fetched CRLs are kept when crl.cache.enabled is
	// true; empty means the user cache directory (~/.cache/ratify/crl).
	CRLCacheDir string
	// Timeout is the deadline of one subject's verification; zero means
	// executor.verificationRequestTimeout; negative means none beyond the
	// caller's context.
	Timeout time.Duration
	// OnRegistryResponse, when set, observes every exchange with a registry
	// (see registry.Options.OnResponse).
	OnRegistryResponse func(host string, status int)
	// WrapStore, when set, wraps the store the executor reads through (to
	// add caching).
	WrapStore func(ratify.Store) ratify.Store
	// OnVerifier, when set, observes every verifier call (see ratify.Executor).
	OnVerifier func(v ratify.Verifier, d time.Duration, report ratify.Report, err error)
	// KeyProviders, when set, are the key management providers that
	// verifiers name, in place of those keyManagementProviders declares
	// (for providers built elsewhere, such as from Kubernetes resources).
	KeyProviders map[string]keys.Provider
	// KeyPool, when set, keeps the providers keyManagementProviders
	// declares alive from one Build to the next (a long-running server's
	// rebuilds), refreshing them in the background; see KeyPool.
	KeyPool *KeyPool
	// KeyVault are the runtime settings of Azure Key Vault providers
	// (credential, transport); the zero value reaches Azure.
	KeyVault azurekeyvault.Options
	// Tracer, when set, traces verifications (see ratify.Executor.Tracer).
	Tracer trace.Tracer
	// RevocationHTTPClient, when set, fetches the OCSP responses and CRLs
	// of notation verifiers (see notation.Options.HTTPClient); nil means
	// a client with notation.DefaultHTTPTimeout.
	RevocationHTTPClient *http.Client
	// Logger receives what external verifier plugins log and write to
	// standard error; nil means slog.Default().
	Logger *slog.Logger
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
	if opts.KeyProviders == nil {
		if opts.KeyProviders, err = BuildKeyProviders(cfg, opts); err != nil {
			return nil, err
		}
	}
	verifiers := make([]ratify.Verifier, 0, len(cfg.Verifier.Entries))
	for i, entry := range cfg.Verifier.Entries {
		v, err := buildVerifier(cfg, entry, opts)
		if err != nil {
			return nil, fmt.Errorf("verifier.plugins[%d] (%s): %w", i, entry.Common().Name, err)
		}
		verifiers = append(verifiers, v)
	}
	names := make([]string, len(verifiers))
	for i, v := range verifiers {
		names[i] = v.Name()
	}
	policy, err := buildPolicy(cfg, names)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = cfg.Executor.VerificationTimeout()
	}
	platforms, err := platformModes(cfg.Policy.Plugin.MultiPlatform)
	if err != nil {
		return nil, err
	}
	return &ratify.Executor{Store: store, Verifiers: verifiers, Policy: policy, Timeout: timeout, OnVerifier: opts.OnVerifier,
		Tracer: opts.Tracer, PlatformMode: platforms, Selection: selections(cfg.Policy.Plugin.ArtifactSelection)}, nil
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
		PlainHTTP:         p.UseHTTP,
		CosignEnabled:     p.CosignEnabled,
		AllowedRegistries: p.AllowedRegistries,
		Transport:         opts.Transport,
		OnResponse:        opts.OnRegistryResponse,
	}
	if len(p.RegistryCABundles) > 0 {
		ropts.CABundles = make(map[string]string, len(p.RegistryCABundles))
		for host, file := range p.RegistryCABundles {
			ropts.CABundles[host] = cfg.path(file)
		}
	}
	if err := buildCredential(cfg, p.AuthProvider, opts, &ropts); err != nil {
		return nil, fmt.Errorf("store.plugins[0].authProvider: %w", err)
	}
	return registry.New(ropts)
}

// buildCredential sets ropts.Credential from the auth provider a (nil:
// the docker config), and for k8Secrets re-reads the Secrets when a registry
// refuses their credentials.
func buildCredential(cfg *Config, a *AuthProvider, opts BuildOptions, ropts *registry.Options) error {
	if a == nil {
		a = &AuthProvider{Name: "dockerConfig"}
	}
	var (
		cred auth.CredentialFunc
		err  error
	)
	switch a.Name {
	case "dockerConfig":
		cred, err = registry.DockerCredential(cfg.path(a.ConfigPath))
	case "azureWorkloadIdentity", "azureManagedIdentity":
		// The token exchange talks to the registry itself, so it trusts
		// what the store trusts (registryCABundles). The authority is
		// $AZURE_AUTHORITY_HOST as the platform sets it, used as given (as
		// keys/azurekeyvault does): instance discovery would send any
		// authority outside Microsoft's public clouds to
		// login.microsoftonline.com for validation.
		rt, terr := registry.NewTransport(ropts.Transport, ropts.CABundles)
		if terr != nil {
			return terr
		}
		aopts := azure.Options{ClientID: a.ClientID, TenantID: a.TenantID, Endpoints: a.Endpoints,
			Transport: rt, DisableInstanceDiscovery: true}
		if a.Name == "azureWorkloadIdentity" {
			cred, err = azure.WorkloadIdentity(aopts)
		} else {
			cred, err = azure.ManagedIdentity(aopts)
		}
	case "awsEcrBasic":
		var client *http.Client
		if opts.Transport != nil {
			client = &http.Client{Transport: opts.Transport}
		}
		cred, err = awsecr.New(awsecr.Options{HTTPClient: client})
	case "k8Secrets":
		cluster, cerr := k8secrets.Connect()
		if cerr != nil {
			return cerr
		}
		refs := make([]k8secrets.SecretRef, len(a.Secrets))
		for i, s := range a.Secrets {
			refs[i] = k8secrets.SecretRef{Name: s.SecretName, Namespace: s.Namespace}
		}
		p := k8secrets.New(cluster, k8secrets.Options{ServiceAccountName: a.ServiceAccountName, Secrets: refs})
		cred = p.Credential
		observe := ropts.OnResponse
		ropts.OnResponse = func(host string, status int) {
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				p.Refused(host)
			}
			if observe != nil {
				observe(host, status)
			}
		}
	default:
		err = fmt.Errorf("unknown auth provider %q: %w", a.Name, errdef.ErrInvalidConfig)
	}
	if err != nil {
		return err
	}
	ropts.Credential = cred
	return nil
}

func buildVerifier(cfg *Config, entry VerifierEntry, opts BuildOptions) (ratify.Verifier, error) {
	switch {
	case entry.SBOM != nil:
		e := entry.SBOM
		return sbom.New(sbom.Config{Name: e.Name, Type: e.Type, ArtifactTypes: sbom.List(e.ArtifactTypes),
			NestedReferences: sbom.List(e.NestedReferences), Settings: e.Settings}, sbom.Options{})
	case entry.VulnerabilityReport != nil:
		e := entry.VulnerabilityReport
		return vulnerabilityreport.New(vulnerabilityreport.Config{Name: e.Name, Type: e.Type,
			ArtifactTypes: vulnerabilityreport.List(e.ArtifactTypes), NestedReferences: vulnerabilityreport.List(e.NestedReferences),
			Settings: e.Settings}, vulnerabilityreport.Options{})
	case entry.SchemaValidator != nil:
		return schemavalidator.New(entry.SchemaValidator.config(), schemavalidator.Options{BaseDir: cfg.Dir})
	case entry.Attestation != nil:
		e := entry.Attestation
		providers := opts.KeyProviders
		if cfg.DeferKeyReferences {
			providers = withUndeclared(providers, e.keyProviders())
		}
		return attestation.New(e.config(), attestation.Options{KeyProviders: providers, BaseDir: cfg.Dir})
	case entry.Plugin != nil:
		return buildPlugin(cfg, entry.Plugin, opts)
	}
	if c := entry.Cosign; c != nil {
		providers := opts.KeyProviders
		if cfg.DeferKeyReferences {
			providers = withUndeclared(providers, c.keyProviders())
		}
		return cosign.New(c.config(), cosign.Options{KeyProviders: providers, BaseDir: cfg.Dir})
	}
	n := entry.Notation
	var certs []string
	if len(n.VerificationCertStores) == 0 { // as in Ratify v1, stores supersede verificationCerts
		for _, c := range n.VerificationCerts {
			certs = append(certs, cfg.path(c))
		}
	}
	ts, err := certStoresTrustStore(n.VerificationCertStores, opts.KeyProviders, cfg.DeferKeyReferences)
	if err != nil {
		return nil, err
	}
	nopts := notation.Options{HTTPClient: opts.RevocationHTTPClient}
	if nopts.HTTPClient == nil { // OCSP and CRL URLs come from certificates: never cloud metadata
		nopts.HTTPClient = &http.Client{Timeout: notation.DefaultHTTPTimeout, Transport: netguard.Transport()}
	}
	if ts != nil {
		nopts.TrustStore = ts
	}
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

// buildPlugin builds an external verifier plugin: the executable named by
// the entry's type (or name) in verifier.pluginBinDirs.
func buildPlugin(cfg *Config, e *PluginVerifier, opts BuildOptions) (ratify.Verifier, error) {
	store, _ := json.Marshal(cfg.Store.Plugins[0]) // plain fields always marshal
	return plugin.New(plugin.Config{Name: e.Name, Type: e.Type, ArtifactTypes: plugin.List(e.ArtifactTypes),
		NestedReferences: plugin.List(e.NestedReferences), Entry: e.Raw}, plugin.Options{
		PluginBinDirs: cfg.Verifier.PluginBinDirs,
		BaseDir:       cfg.Dir,
		Version:       cfg.Verifier.Version,
		Store:         plugin.StoreConfig{Version: cfg.Store.Version, PluginBinDirs: cfg.Store.PluginBinDirs, Store: store},
		Logger:        opts.Logger,
	})
}
