package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
)

// keyProviderName is the name under which verifiers refer to a key
// management provider in verificationCertStores (and cosign trust
// policies), as in Ratify v1: a KeyManagementProvider by its name, a
// NamespacedKeyManagementProvider by "namespace/name". Kubernetes names
// hold no "/", so neither kind can take the other's name.
func keyProviderName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// keyProviderEntry turns a KeyManagementProviderSpec into its
// keyManagementProviders entry (config.KeyProvider): name, type and the
// parameters, with spec.refreshInterval moved into the parameters of the
// providers that refresh.
func keyProviderEntry(name string, spec *v1beta1.KeyManagementProviderSpec) (json.RawMessage, error) {
	if spec.RefreshInterval != "" {
		if d, err := time.ParseDuration(spec.RefreshInterval); err != nil || d <= 0 {
			return nil, fmt.Errorf("spec.refreshInterval %q: not a positive duration such as \"1h\": %w", spec.RefreshInterval, errdef.ErrInvalidConfig)
		}
	}
	fields, err := parameterFields(spec.Parameters)
	if err != nil {
		return nil, err
	}
	switch spec.Type {
	case config.KeyProviderInline:
		delete(fields, "type") // some Ratify v1 examples repeat the provider's type here
	case config.KeyProviderAzureKeyVault:
		if _, ok := fields["refreshInterval"]; !ok && spec.RefreshInterval != "" {
			set(fields, "refreshInterval", spec.RefreshInterval)
		}
	case "":
		return nil, fmt.Errorf("spec.type: not set (inline or azurekeyvault): %w", errdef.ErrInvalidConfig)
	default:
		return nil, fmt.Errorf("spec.type %q: unknown key management provider type (supported: inline, azurekeyvault): %w", spec.Type, errdef.ErrInvalidConfig)
	}
	params, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return json.Marshal(config.KeyProvider{Name: name, Type: spec.Type, Parameters: params})
}

// keyProviderStatus is what a KeyManagementProvider's status shows once it
// is in the engine: the outcome of its provider's last fetch.
type keyProviderStatus interface {
	KeyProviderStatus(ctx context.Context, name string) (keys.Status, bool)
}

// fetchedOutcome completes the outcome of an accepted key management
// provider with its provider's status: whether its material was fetched,
// why not, and what it holds.
func fetchedOutcome(ctx context.Context, target Target, name string, now time.Time) outcome {
	st, ok := target.KeyProviderStatus(ctx, name)
	if !ok {
		return outcome{err: fmt.Errorf("accepted, but not in the configuration in force: %w", errdef.ErrTrustMaterialUnavailable)}
	}
	out := outcome{properties: statusProperties(st.Properties), fetched: st.LastFetched}
	if !st.Success {
		msg := st.Error
		if msg == "" {
			msg = "no material fetched yet"
		}
		out.err = fmt.Errorf("%s: %w", msg, errdef.ErrTrustMaterialUnavailable)
		out.brief = shorten(st.BriefError)
		out.fetched = now
	}
	return out
}

// statusProperties groups a provider's item properties into the
// status.properties object: {"certificates": [...], "keys": [...]}.
func statusProperties(items []keys.Properties) json.RawMessage {
	if len(items) == 0 {
		return nil
	}
	var grouped struct {
		Certificates []keys.Properties `json:"certificates,omitempty"`
		Keys         []keys.Properties `json:"keys,omitempty"`
	}
	for _, p := range items {
		if p.Kind == keys.KindKey {
			grouped.Keys = append(grouped.Keys, p)
		} else {
			grouped.Certificates = append(grouped.Certificates, p)
		}
	}
	b, _ := json.Marshal(grouped) // plain values always marshal
	return b
}

// refreshAfter is when a key management provider's status is read again:
// after each refresh of a provider that refreshes, never for inline ones.
func refreshAfter(spec *v1beta1.KeyManagementProviderSpec) time.Duration {
	if spec.Type == config.KeyProviderInline {
		return 0
	}
	if d, err := time.ParseDuration(spec.RefreshInterval); err == nil && d > 0 {
		return d
	}
	return keys.DefaultRefreshInterval
}
