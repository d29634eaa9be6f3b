// Package azurekeyvault is Ratify v1's "azurekeyvault" key management
// provider
// (https://ratify.dev/docs/reference/custom%20resources/key-management-providers#azure-key-vault):
// certificates and public keys kept in an Azure Key Vault, read through the
// Key Vault REST API (https://learn.microsoft.com/rest/api/keyvault/) with
// the official azsecrets and azkeys clients and a Microsoft Entra token
// from azidentity (workload identity or managed identity).
//
// A certificate is read through its secret (GET {vault}/secrets/{name}/{version}),
// whose value is the whole chain as PEM (application/x-pem-file) or as
// base64 PKCS #12 (application/x-pkcs12); the private key it may hold is
// discarded at once. A key is read as a JSON Web Key (GET
// {vault}/keys/{name}/{version}, RFC 7517) and turned into an RSA or EC
// public key.
//
// A pinned version is the only one trusted. Without a version, the
// item's versions are listed (GET {vault}/secrets/{name}/versions) at
// every refresh and the newest MaxVersions of them are trusted, so that
// signatures made just before a rotation keep verifying; a version in that
// window that is disabled, expired or not yet valid is reported in the
// status and not trusted. Version contents never change and are read once.
package azurekeyvault

import (
	"fmt"
	"net/url"
	"time"

	"github.com/openratify/ratify/errdef"
)

// DefaultMaxVersions is how many of an unpinned item's newest versions are
// trusted when Config.MaxVersions is zero: the current one and the one it
// replaced.
const DefaultMaxVersions = 2

// Config is the provider's parameters, with Ratify v1's field names;
// MaxVersions is a ratify extension.
type Config struct {
	// VaultURI is the vault's URL, https://NAME.vault.azure.net/.
	VaultURI string `json:"vaultURI"`
	// TenantID is the Microsoft Entra tenant of the identity.
	TenantID string `json:"tenantID"`
	// ClientID is the client ID of the workload identity or of a
	// user-assigned managed identity.
	ClientID string `json:"clientID"`
	// Certificates are certificates to trust, read through their secrets.
	Certificates []Item `json:"certificates"`
	// Keys are keys whose public part to trust.
	Keys []Item `json:"keys"`
	// RefreshInterval is how often the vault is read again, as a Go
	// duration ("1h"); empty means keys.DefaultRefreshInterval.
	RefreshInterval string `json:"refreshInterval"`
	// MaxVersions is how many of an unpinned item's newest versions are
	// trusted; zero means DefaultMaxVersions.
	MaxVersions int `json:"maxVersions"`
}

// Item names a vault object, and optionally pins one version of it.
type Item struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Validate checks the fields; errors name the field and wrap
// errdef.ErrInvalidConfig.
func (c Config) Validate() error {
	u, err := url.Parse(c.VaultURI)
	if c.VaultURI == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("vaultURI: %q is not an https URL: %w", c.VaultURI, errdef.ErrInvalidConfig)
	}
	if len(c.Certificates) == 0 && len(c.Keys) == 0 {
		return fmt.Errorf("certificates, keys: nothing to read from the vault: %w", errdef.ErrInvalidConfig)
	}
	for i, it := range c.Certificates {
		if it.Name == "" {
			return fmt.Errorf("certificates[%d].name: empty: %w", i, errdef.ErrInvalidConfig)
		}
	}
	for i, it := range c.Keys {
		if it.Name == "" {
			return fmt.Errorf("keys[%d].name: empty: %w", i, errdef.ErrInvalidConfig)
		}
	}
	if c.MaxVersions < 0 {
		return fmt.Errorf("maxVersions: %d is negative: %w", c.MaxVersions, errdef.ErrInvalidConfig)
	}
	if _, err := c.interval(); err != nil {
		return err
	}
	return nil
}

func (c Config) interval() (time.Duration, error) {
	if c.RefreshInterval == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.RefreshInterval)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("refreshInterval: %q is not a positive duration: %w", c.RefreshInterval, errdef.ErrInvalidConfig)
	}
	return d, nil
}

func (c Config) maxVersions() int {
	if c.MaxVersions == 0 {
		return DefaultMaxVersions
	}
	return c.MaxVersions
}
