package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
)

// StoreSection is config.json's "store": where subjects and their referrers are read from.
type StoreSection struct {
	Version string        `json:"version"`
	Plugins []StorePlugin `json:"plugins"`
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
}

// AuthProvider says where registry credentials come from (store.plugins[].authProvider).
type AuthProvider struct {
	// Name is dockerConfig, k8Secrets, azureWorkloadIdentity, azureManagedIdentity or awsEcrBasic.
	Name string `json:"name"`
	// ConfigPath is the docker config file (dockerConfig); default ~/.docker/config.json.
	ConfigPath string `json:"configPath"`
	// Fields of the other providers, accepted so that Ratify v1 files decode.
	ServiceAccountName string            `json:"serviceAccountName"`
	Secrets            []json.RawMessage `json:"secrets"`
	ClientID           string            `json:"clientID"`
	TenantID           string            `json:"tenantID"`
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
	if p.AuthProvider != nil {
		switch p.AuthProvider.Name {
		case "dockerConfig":
		case "k8Secrets", "azureWorkloadIdentity", "azureManagedIdentity", "awsEcrBasic":
			return invalid("store.plugins[0].authProvider.name", "%q is not available in this version of ratify (available: dockerConfig)", p.AuthProvider.Name)
		default:
			return invalid("store.plugins[0].authProvider.name", "unknown auth provider %q", p.AuthProvider.Name)
		}
	}
	return nil
}

// PolicySection is config.json's "policy".
type PolicySection struct {
	Version string       `json:"version"`
	Plugin  PolicyPlugin `json:"plugin"`
}

// PolicyPlugin selects and configures the policy.
type PolicyPlugin struct {
	// Name is configPolicy (regoPolicy comes later).
	Name string `json:"name"`
	// ArtifactVerificationPolicies maps an artifact type (or "default") to "any" or "all".
	ArtifactVerificationPolicies map[string]string `json:"artifactVerificationPolicies"`
	// Rego policy fields, accepted so that Ratify v1 files decode.
	Policy             string `json:"policy"`
	PolicyPath         string `json:"policyPath"`
	PassthroughEnabled bool   `json:"passthroughEnabled"`
}

func (p *PolicySection) validate() error {
	switch p.Plugin.Name {
	case "configPolicy":
		for t, rule := range p.Plugin.ArtifactVerificationPolicies {
			if rule != "any" && rule != "all" {
				return invalid(fmt.Sprintf("policy.plugin.artifactVerificationPolicies[%q]", t), "%q is not \"any\" or \"all\"", rule)
			}
		}
		return nil
	case "regoPolicy":
		return invalid("policy.plugin.name", "regoPolicy is not available in this version of ratify (available: configPolicy)")
	case "":
		return invalid("policy.plugin.name", "no policy configured; add {\"name\":\"configPolicy\"}")
	default:
		return invalid("policy.plugin.name", "unknown policy %q (supported: configPolicy)", p.Plugin.Name)
	}
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
