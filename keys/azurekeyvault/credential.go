package azurekeyvault

import (
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/openratify/ratify/errdef"
)

// NewCredential returns the Microsoft Entra credential the provider uses
// when Options.Credential is nil, chosen from the environment as Azure
// workloads set it:
//   - AZURE_FEDERATED_TOKEN_FILE set (Azure workload identity's webhook sets
//     it): a workload identity credential exchanging that token for the
//     application cfg.ClientID (else AZURE_CLIENT_ID) in tenant
//     cfg.TenantID (else AZURE_TENANT_ID);
//   - otherwise a managed identity credential, user-assigned when
//     cfg.ClientID is set.
//
// The authority host is azidentity's: AZURE_AUTHORITY_HOST, or
// opts.Cloud. Instance discovery is disabled, so a sovereign or private
// cloud's authority is used as given.
func NewCredential(cfg Config, opts policy.ClientOptions) (azcore.TokenCredential, error) {
	if file := os.Getenv("AZURE_FEDERATED_TOKEN_FILE"); file != "" {
		clientID := cfg.ClientID
		if clientID == "" {
			clientID = os.Getenv("AZURE_CLIENT_ID")
		}
		tenantID := cfg.TenantID
		if tenantID == "" {
			tenantID = os.Getenv("AZURE_TENANT_ID")
		}
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions:            opts,
			ClientID:                 clientID,
			TenantID:                 tenantID,
			TokenFilePath:            file,
			DisableInstanceDiscovery: true,
		})
		if err != nil {
			return nil, fmt.Errorf("azure workload identity: %v: %w", err, errdef.ErrInvalidConfig)
		}
		return cred, nil
	}
	mopts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
	if cfg.ClientID != "" {
		mopts.ID = azidentity.ClientID(cfg.ClientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(mopts)
	if err != nil {
		return nil, fmt.Errorf("azure managed identity: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return cred, nil
}
