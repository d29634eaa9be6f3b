// Package auth is the home of ratify's registry credential providers. Each
// provider is a function of oras-go's type auth.CredentialFunc
// (oras.land/oras-go/v2/registry/remote/auth): given a registry host it
// returns the credential to present to that host, or auth.EmptyCredential
// (anonymous access) when it has none for it. A provider never hands a
// credential to a host it was not configured for.
//
// The providers, named as Ratify v1's store.plugins[].authProvider:
//
//   - dockerConfig: store/registry.DockerCredential
//   - azureWorkloadIdentity, azureManagedIdentity: auth/azure
//   - awsEcrBasic: auth/awsecr
//   - k8Secrets: auth/k8secrets
//
// auth/token holds the refresh-ahead cache they share. The cloud SDKs are
// linked only through auth/azure and auth/awsecr; the Kubernetes client only
// through auth/k8secrets/kube, and into the command line tool only when it is
// built with -tags k8s.
package auth
