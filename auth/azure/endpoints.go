package azure

import (
	"fmt"

	"github.com/openratify/ratify/internal/hostlist"
)

// DefaultEndpoints returns the registry hosts the Azure providers exchange
// tokens for when none are configured: the login servers of Azure Container
// Registry in the public, US Government and China clouds.
func DefaultEndpoints() []string {
	return []string{"*.azurecr.io", "*.azurecr.us", "*.azurecr.cn"}
}

// Endpoints is an allow-list of registry hosts (Ratify v1's authProvider
// "endpoints", the chart's oras.authProviders.azureContainerRegistryEndpoints),
// matched as hostlist.List does: exact hosts or one leading "*." label,
// never by substring or suffix.
type Endpoints struct {
	hostlist.List
}

// NewEndpoints validates patterns; nil or empty means DefaultEndpoints. An
// invalid pattern is an error wrapping errdef.ErrInvalidConfig.
func NewEndpoints(patterns []string) (Endpoints, error) {
	if len(patterns) == 0 {
		patterns = DefaultEndpoints()
	}
	l, err := hostlist.Parse(patterns)
	if err != nil {
		return Endpoints{}, fmt.Errorf("endpoint %w", err)
	}
	return Endpoints{l}, nil
}
