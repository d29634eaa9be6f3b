// Package azure provides registry credentials for Azure Container Registry
// from a Microsoft Entra identity: Ratify v1's authProviders
// "azureWorkloadIdentity" (a Kubernetes service account federated with
// Entra, azidentity.WorkloadIdentityCredential) and "azureManagedIdentity"
// (azidentity.ManagedIdentityCredential).
//
// For a registry host on the endpoint allow-list (see Endpoints) the
// provider obtains an Entra access token for the scope
// https://containerregistry.azure.net/.default, exchanges it at
// https://<registry>/oauth2/exchange for an ACR refresh token, and returns
// that as auth.Credential{Username: TokenUsername, RefreshToken: ...}; oras-go
// then obtains access tokens from the registry's /oauth2/token itself. Refresh
// tokens are cached per host and renewed in the background before they
// expire. For any other host the provider returns auth.EmptyCredential and
// sends nothing anywhere.
package azure

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/auth/token"
	"github.com/openratify/ratify/errdef"
)

const (
	// Scope is the Microsoft Entra scope of tokens for Azure Container Registry.
	Scope = "https://containerregistry.azure.net/.default"
	// TokenUsername is the user name that goes with an ACR refresh token.
	TokenUsername = "00000000-0000-0000-0000-000000000000"
)

// Options configure the Azure providers. The zero value uses the
// environment that Azure workload identity and managed identity set up.
type Options struct {
	// ClientID is the identity's client ID (authProvider "clientID"); empty
	// means $AZURE_CLIENT_ID for workload identity and the system-assigned
	// identity for managed identity.
	ClientID string
	// TenantID is the Entra tenant (authProvider "tenantID"); empty means
	// $AZURE_TENANT_ID.
	TenantID string
	// Endpoints is the allow-list of registry hosts (authProvider
	// "endpoints"); empty means DefaultEndpoints. See Endpoints.
	Endpoints []string
	// Transport carries the requests to Microsoft Entra (or the managed
	// identity endpoint) and to the registries' /oauth2/exchange; nil means
	// http.DefaultTransport. For the exchange to trust what a registry
	// store trusts (its CA bundles), give the transport of
	// store/registry.NewTransport.
	Transport http.RoundTripper
	// DisableInstanceDiscovery skips Microsoft Entra's instance discovery
	// and trusts the authority host as configured ($AZURE_AUTHORITY_HOST),
	// as needed for private and disconnected clouds (and local test
	// authorities). Workload identity only.
	DisableInstanceDiscovery bool
	// Cache tunes the cache of refresh tokens.
	Cache token.Options
}

// WorkloadIdentity returns the credentials of Azure workload identity: the
// service account token in $AZURE_FEDERATED_TOKEN_FILE is exchanged with
// Microsoft Entra ($AZURE_AUTHORITY_HOST) for an access token of client
// ClientID in tenant TenantID. A missing client ID, tenant or token file is
// an error wrapping errdef.ErrInvalidConfig.
func WorkloadIdentity(opts Options) (auth.CredentialFunc, error) {
	endpoints, err := NewEndpoints(opts.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("azureWorkloadIdentity: %w", err)
	}
	tenant := tenantID(opts)
	if os.Getenv("AZURE_FEDERATED_TOKEN_FILE") == "" {
		return nil, fmt.Errorf("azureWorkloadIdentity: AZURE_FEDERATED_TOKEN_FILE is not set (is the pod labeled azure.workload.identity/use=true?): %w", errdef.ErrInvalidConfig)
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions:            clientOptions(opts.Transport),
		ClientID:                 opts.ClientID,
		TenantID:                 tenant,
		DisableInstanceDiscovery: opts.DisableInstanceDiscovery,
	})
	if err != nil {
		return nil, fmt.Errorf("azureWorkloadIdentity: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return newProvider(cred, tenant, endpoints, opts).credential, nil
}

// ManagedIdentity returns the credentials of an Azure managed identity:
// user-assigned with client ID ClientID, or system-assigned without one.
// The identity endpoint is found as azidentity does (IMDS, or App Service's
// $IDENTITY_ENDPOINT and $IDENTITY_HEADER, ...).
func ManagedIdentity(opts Options) (auth.CredentialFunc, error) {
	endpoints, err := NewEndpoints(opts.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("azureManagedIdentity: %w", err)
	}
	mopts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: clientOptions(opts.Transport)}
	if opts.ClientID != "" {
		mopts.ID = azidentity.ClientID(opts.ClientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(mopts)
	if err != nil {
		return nil, fmt.Errorf("azureManagedIdentity: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return newProvider(cred, tenantID(opts), endpoints, opts).credential, nil
}

func tenantID(opts Options) string {
	if opts.TenantID != "" {
		return opts.TenantID
	}
	return os.Getenv("AZURE_TENANT_ID")
}

func clientOptions(rt http.RoundTripper) azcore.ClientOptions {
	var o azcore.ClientOptions
	if rt != nil {
		o.Transport = &http.Client{Transport: rt}
	}
	return o
}

// provider exchanges Entra tokens of cred for ACR refresh tokens.
type provider struct {
	cred      azcore.TokenCredential
	tenant    string
	endpoints Endpoints
	client    *http.Client
	cache     *token.Cache[string]
}

func newProvider(cred azcore.TokenCredential, tenant string, endpoints Endpoints, opts Options) *provider {
	p := &provider{
		cred:      cred,
		tenant:    tenant,
		endpoints: endpoints,
		client:    &http.Client{Transport: opts.Transport, CheckRedirect: noRedirect},
	}
	p.cache = token.New(p.refreshToken, opts.Cache)
	return p
}

// credential is the auth.CredentialFunc.
func (p *provider) credential(ctx context.Context, host string) (auth.Credential, error) {
	if !p.endpoints.Allowed(host) {
		return auth.EmptyCredential, nil
	}
	rt, err := p.cache.Get(ctx, host)
	if err != nil {
		return auth.EmptyCredential, fmt.Errorf("azure credentials for %s: %w", host, err)
	}
	return auth.Credential{Username: TokenUsername, RefreshToken: rt}, nil
}

// refreshToken is the token.FetchFunc: a new Entra token, exchanged.
func (p *provider) refreshToken(ctx context.Context, host string) (token.Token[string], error) {
	at, err := p.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		return token.Token[string]{}, fmt.Errorf("microsoft entra token: %v: %w", err, errdef.ErrUnauthorized)
	}
	rt, expiry, err := exchange(ctx, p.client, host, p.tenant, at.Token, at.ExpiresOn)
	if err != nil {
		return token.Token[string]{}, err
	}
	return token.Token[string]{Value: rt, Expiry: expiry}, nil
}
