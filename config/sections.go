package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/openratify/ratify/auth/azure"
	"github.com/openratify/ratify/internal/hostlist"
	"github.com/openratify/ratify/policy/rego"
	"github.com/openratify/ratify/policy/threshold"
)

// StoreSection is config.json's "store": where subjects and their referrers are read from.
type StoreSection struct {
	Version string        `json:"version"`
	Plugins []StorePlugin `json:"plugins"`
	// PluginBinDirs is Ratify v1's store plugin directory; it is passed to
	// external verifier plugins (storeConfig), which may read it.
	PluginBinDirs []string `json:"pluginBinDirs"`
}

// StorePlugin is one entry of store.plugins. Only "oras" (an OCI registry) exists.
type StorePlugin struct {
	Name string `json:"name"`
	// UseHTTP talks plain HTTP to registries instead of HTTPS ("useHttp").
	UseHTTP bool `json:"useHttp"`
	// CosignEnabled also looks for cosign signatures under the sha256-<hex>.sig tag.
	CosignEnabled bool          `json:"cosignEnabled"`
	AuthProvider  *AuthProvider `json:"authProvider"`
	// LocalCachePath is accepted for Ratify v1 compatibility and ignored:
	// ratify keeps no on-disk blob cache.
	LocalCachePath string `json:"localCachePath"`
	// RegistryCABundles maps a registry host ("registry.local:5000") to a
	// PEM file of CA certificates trusted for that registry's TLS.
	RegistryCABundles map[string]string `json:"registryCABundles"`
	// AllowedRegistries, a ratify extension, when set lists the only
	// registries ratify talks to: "host", "host:port" or "*.domain" (one
	// label), matched exactly; any other is refused before a request.
	AllowedRegistries []string `json:"allowedRegistries"`
}

// AuthProvider says where registry credentials come from
// (store.plugins[].authProvider), with Ratify v1's provider names and fields.
type AuthProvider struct {
	// Name is dockerConfig, k8Secrets, azureWorkloadIdentity,
	// azureManagedIdentity or awsEcrBasic.
	Name string `json:"name"`
	// ConfigPath is the docker config file (dockerConfig); default ~/.docker/config.json.
	ConfigPath string `json:"configPath"`
	// ServiceAccountName is the service account whose imagePullSecrets are
	// read (k8Secrets); default "default", in ratify's namespace.
	ServiceAccountName string `json:"serviceAccountName"`
	// Secrets are dockerconfigjson Secrets read before the service
	// account's (k8Secrets).
	Secrets []K8sSecret `json:"secrets"`
	// ClientID is the Microsoft Entra identity (azureWorkloadIdentity,
	// azureManagedIdentity); default $AZURE_CLIENT_ID, or the system-assigned
	// managed identity.
	ClientID string `json:"clientID"`
	// TenantID is the Microsoft Entra tenant (Azure providers); default $AZURE_TENANT_ID.
	TenantID string `json:"tenantID"`
	// Endpoints lists the registry hosts the Azure providers get tokens for
	// (the chart's oras.authProviders.azureContainerRegistryEndpoints):
	// "host", "host:port" or "*.domain" (one label); default *.azurecr.io,
	// *.azurecr.us and *.azurecr.cn.
	Endpoints []string `json:"endpoints"`
}

// K8sSecret names a Secret of type kubernetes.io/dockerconfigjson (or
// kubernetes.io/dockercfg) for the k8Secrets provider.
type K8sSecret struct {
	SecretName string `json:"secretName"`
	// Namespace defaults to ratify's own ($RATIFY_NAMESPACE).
	Namespace string `json:"namespace"`
}

func (a *AuthProvider) validate(path string) error {
	var allowed []string
	switch a.Name {
	case "dockerConfig":
		allowed = []string{"configPath"}
	case "k8Secrets":
		allowed = []string{"serviceAccountName", "secrets"}
		for i, s := range a.Secrets {
			if s.SecretName == "" {
				return invalid(fmt.Sprintf("%s.secrets[%d].secretName", path, i), "missing")
			}
		}
	case "azureWorkloadIdentity", "azureManagedIdentity":
		allowed = []string{"clientID", "tenantID", "endpoints"}
		if _, err := azure.NewEndpoints(a.Endpoints); err != nil {
			return invalid(path+".endpoints", "%v", err)
		}
	case "awsEcrBasic":
	case "":
		return invalid(path+".name", "missing (dockerConfig, k8Secrets, azureWorkloadIdentity, azureManagedIdentity or awsEcrBasic)")
	default:
		return invalid(path+".name", "unknown auth provider %q (dockerConfig, k8Secrets, azureWorkloadIdentity, azureManagedIdentity or awsEcrBasic)", a.Name)
	}
	set := map[string]bool{
		"configPath":         a.ConfigPath != "",
		"serviceAccountName": a.ServiceAccountName != "",
		"secrets":            len(a.Secrets) > 0,
		"clientID":           a.ClientID != "",
		"tenantID":           a.TenantID != "",
		"endpoints":          len(a.Endpoints) > 0,
	}
	for _, field := range []string{"configPath", "serviceAccountName", "secrets", "clientID", "tenantID", "endpoints"} {
		if set[field] && !slices.Contains(allowed, field) {
			return invalid(path+"."+field, "is not a field of the %s auth provider", a.Name)
		}
	}
	return nil
}

func (s *StoreSection) validate() error {
	if len(s.Plugins) == 0 {
		return invalid("store.plugins", "no store configured; add {\"name\":\"oras\"}")
	}
	if len(s.Plugins) > 1 {
		return invalid("store.plugins", "%d stores configured; ratify reads from one registry store", len(s.Plugins))
	}
	p := s.Plugins[0]
	if p.Name != "oras" {
		return invalid("store.plugins[0].name", "unknown store %q (supported: oras)", p.Name)
	}
	if _, err := hostlist.Parse(p.AllowedRegistries); err != nil {
		return fmt.Errorf("store.plugins[0].allowedRegistries: %w", err)
	}
	if p.AuthProvider != nil {
		return p.AuthProvider.validate("store.plugins[0].authProvider")
	}
	return nil
}

// PolicySection is config.json's "policy".
type PolicySection struct {
	Version string       `json:"version"`
	Plugin  PolicyPlugin `json:"plugin"`
}

// PolicyPlugin selects and configures the policy: configPolicy (Ratify
// v1's any/all per artifact type), regoPolicy (Ratify v1's Rego policy) or
// thresholdPolicy (a ratify extension: "2 of these 3 signers").
type PolicyPlugin struct {
	// Name is configPolicy, regoPolicy or thresholdPolicy.
	Name string `json:"name"`
	// ArtifactVerificationPolicies maps an artifact type (or "default") to
	// "any" or "all" (configPolicy).
	ArtifactVerificationPolicies map[string]string `json:"artifactVerificationPolicies"`
	// Policy or PolicyPath is the Rego module; PassthroughEnabled leaves the
	// verdict to the Gatekeeper constraint (regoPolicy).
	Policy             string `json:"policy"`
	PolicyPath         string `json:"policyPath"`
	PassthroughEnabled bool   `json:"passthroughEnabled"`
	// Rules and Threshold are a thresholdPolicy's (see policy/threshold).
	Rules     []threshold.Rule `json:"rules"`
	Threshold *int             `json:"threshold"`

	// MultiPlatform (every policy; a ratify extension) says what makes an
	// image index pass: "index" (its own artifacts, as Ratify v1),
	// "platforms" (every platform manifest on its own artifacts) or
	// "either", by repository scope: {"default": "either",
	// "registry.example/team/*": "platforms"}.
	MultiPlatform map[string]string `json:"multiPlatform"`
	// ArtifactSelection (every policy; a ratify extension) narrows the
	// artifacts of a type that are verified: {"application/sarif+json":
	// {"newest": 1, "annotations": {"org.example/scanner": "trivy"}}}.
	ArtifactSelection map[string]ArtifactSelection `json:"artifactSelection"`
}

// ArtifactSelection keeps, of the artifacts of one type, those whose
// annotations have these values, and of them the Newest (by their
// org.opencontainers.image.created annotation).
type ArtifactSelection struct {
	Newest      int               `json:"newest"`
	Annotations map[string]string `json:"annotations"`
}

func (p *PolicySection) validate() error {
	pl := &p.Plugin
	var err error
	switch pl.Name {
	case "configPolicy":
		for _, t := range slices.Sorted(maps.Keys(pl.ArtifactVerificationPolicies)) {
			if rule := pl.ArtifactVerificationPolicies[t]; rule != "any" && rule != "all" {
				return invalid(fmt.Sprintf("policy.plugin.artifactVerificationPolicies[%q]", t), "%q is not \"any\" or \"all\"", rule)
			}
		}
	case "regoPolicy":
		if err = (&rego.Config{Name: pl.Name, Policy: pl.Policy, PolicyPath: pl.PolicyPath, PassthroughEnabled: pl.PassthroughEnabled}).Validate(); err != nil {
			return fmt.Errorf("policy.plugin.%w", err)
		}
	case "thresholdPolicy":
		if err = (&threshold.Config{Name: pl.Name, Rules: pl.Rules, Threshold: pl.Threshold}).Validate(); err != nil {
			return fmt.Errorf("policy.plugin.%w", err)
		}
	case "":
		return invalid("policy.plugin.name", "no policy configured; add {\"name\":\"configPolicy\"}")
	default:
		return invalid("policy.plugin.name", "unknown policy %q (supported: configPolicy, regoPolicy, thresholdPolicy)", pl.Name)
	}
	if _, err := platformModes(pl.MultiPlatform); err != nil {
		return err
	}
	for _, t := range slices.Sorted(maps.Keys(pl.ArtifactSelection)) {
		if n := pl.ArtifactSelection[t].Newest; n < 0 {
			return invalid(fmt.Sprintf("policy.plugin.artifactSelection[%q].newest", t), "%d is negative", n)
		}
	}
	return nil
}

// ExecutorSection is config.json's "executor".
type ExecutorSection struct {
	// VerificationRequestTimeout is the deadline of a verify request in
	// milliseconds (default 2900).
	VerificationRequestTimeout *int `json:"verificationRequestTimeout"`
	// MutationRequestTimeout is the deadline of a mutate request in
	// milliseconds (default 950).
	MutationRequestTimeout *int `json:"mutationRequestTimeout"`
}

// Defaults of the executor section, in milliseconds.
const (
	DefaultVerificationRequestTimeout = 2900
	DefaultMutationRequestTimeout     = 950
)

func (e *ExecutorSection) validate() error {
	if t := e.VerificationRequestTimeout; t != nil && *t <= 0 {
		return invalid("executor.verificationRequestTimeout", "%d is not a positive number of milliseconds", *t)
	}
	if t := e.MutationRequestTimeout; t != nil && *t <= 0 {
		return invalid("executor.mutationRequestTimeout", "%d is not a positive number of milliseconds", *t)
	}
	return nil
}

// CRLSection is config.json's "crl": certificate revocation list handling.
type CRLSection struct {
	Cache struct {
		// Enabled keeps fetched CRLs on disk until they expire (default true).
		Enabled *bool `json:"enabled"`
	} `json:"cache"`
}

// CacheEnabled reports whether CRLs are cached, true unless turned off.
func (c CRLSection) CacheEnabled() bool {
	return c.Cache.Enabled == nil || *c.Cache.Enabled
}

// LoggerSection is config.json's "logger".
type LoggerSection struct {
	// Formatter is text (default), json or logstash (treated as json).
	Formatter      string `json:"formatter"`
	RequestHeaders struct {
		// TraceIDHeaderName lists request headers that carry a trace ID.
		TraceIDHeaderName []string `json:"traceIDHeaderName"`
	} `json:"requestHeaders"`
}

func (l *LoggerSection) validate() error {
	switch l.Formatter {
	case "", "text", "json", "logstash":
		return nil
	}
	return invalid("logger.formatter", "unknown formatter %q (text, json or logstash)", l.Formatter)
}

// List is a list of strings written either as a comma-separated string
// ("a,b", as Ratify v1's artifactTypes) or as a JSON array.
type List []string

// UnmarshalJSON accepts "a, b" and ["a", "b"].
func (l *List) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*l = nil
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				*l = append(*l, part)
			}
		}
		return nil
	}
	var items []string
	if err := json.Unmarshal(data, &items); err != nil {
		return fmt.Errorf("expected a comma-separated string or an array of strings")
	}
	*l = items
	return nil
}

// trustPolicyDocument aliases notation-go's trust policy document (Notary
// Project trust policy v1.0) so that its JSON is decoded strictly too.
type trustPolicyDocument = trustpolicy.Document
