package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// withAuth replaces the dockerConfig auth provider of v1Config.
func withAuth(provider string) string {
	return strings.Replace(v1Config, `"authProvider": {"name": "dockerConfig"}`, `"authProvider": `+provider, 1)
}

// TestAuthProviderFields accepts Ratify v1's auth providers with their
// fields and rejects the fields of another provider, by path.
func TestAuthProviderFields(t *testing.T) {
	for _, tc := range []struct {
		provider string
		wantPath string // empty: valid
	}{
		{`{"name": "dockerConfig", "configPath": "docker.json"}`, ""},
		{`{"name": "k8Secrets"}`, ""},
		{`{"name": "k8Secrets", "serviceAccountName": "ratify-admin", "secrets": [{"secretName": "pull", "namespace": "team-a"}, {"secretName": "other"}]}`, ""},
		{`{"name": "azureWorkloadIdentity", "clientID": "1111"}`, ""},
		{`{"name": "azureWorkloadIdentity", "clientID": "1111", "tenantID": "2222", "endpoints": ["*.azurecr.io", "registry.corp.example:5000"]}`, ""},
		{`{"name": "azureManagedIdentity", "clientID": "1111"}`, ""},
		{`{"name": "awsEcrBasic"}`, ""},
		{`{"name": "k8Secrets", "secrets": [{"namespace": "team-a"}]}`, "authProvider.secrets[0].secretName: missing"},
		{`{"name": "k8Secrets", "secrets": [{"secretName": "x", "nmespace": "a"}]}`, "authProvider.secrets[0].nmespace: unknown field"},
		{`{"name": "k8Secrets", "clientID": "1111"}`, "authProvider.clientID: is not a field of the k8Secrets auth provider"},
		{`{"name": "awsEcrBasic", "endpoints": ["*.azurecr.io"]}`, "authProvider.endpoints: is not a field"},
		{`{"name": "dockerConfig", "secrets": [{"secretName": "x"}]}`, "authProvider.secrets: is not a field"},
		{`{"name": "azureWorkloadIdentity", "endpoints": ["*"]}`, "authProvider.endpoints"},
		{`{"name": "azureWorkloadIdentity", "endpoints": ["https://x.azurecr.io"]}`, "authProvider.endpoints"},
		{`{"name": "azureWorkloadIdentity", "endpoints": ["a.*.io"]}`, "authProvider.endpoints"},
		{`{"name": "alibabacloudAcrBasic"}`, `authProvider.name: unknown auth provider "alibabacloudAcrBasic"`},
		{`{"clientID": "1111"}`, "authProvider.name: missing"},
	} {
		_, err := Parse([]byte(withAuth(tc.provider)))
		if tc.wantPath == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.provider, err)
			}
			continue
		}
		if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantPath) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig naming %q", tc.provider, err, tc.wantPath)
		}
	}
}

// TestBuildStoreCredentials builds a store with each provider. Nothing is
// fetched at build time; what the environment lacks is reported then.
func TestBuildStoreCredentials(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_TENANT_ID", "2222")
	t.Setenv("AZURE_CLIENT_ID", "")
	for _, tc := range []struct {
		provider string
		env      map[string]string
		want     error
	}{
		{`{"name": "dockerConfig", "configPath": "missing.json"}`, nil, nil},
		{`{"name": "azureWorkloadIdentity", "clientID": "1111"}`, map[string]string{"AZURE_FEDERATED_TOKEN_FILE": tokenFile}, nil},
		{`{"name": "azureWorkloadIdentity", "clientID": "1111"}`, map[string]string{"AZURE_FEDERATED_TOKEN_FILE": ""}, errdef.ErrInvalidConfig},
		{`{"name": "azureManagedIdentity", "clientID": "1111"}`, nil, nil},
		{`{"name": "awsEcrBasic"}`, map[string]string{"AWS_API_OVERRIDE_ENDPOINT": ""}, nil},
		{`{"name": "awsEcrBasic"}`, map[string]string{"AWS_API_OVERRIDE_ENDPOINT": "http://ecr.example"}, errdef.ErrInvalidConfig},
		// Without -tags k8s (the command line tool) k8Secrets is unsupported;
		// with it, outside a cluster and without a kubeconfig, misconfigured.
		{`{"name": "k8Secrets"}`, map[string]string{"KUBECONFIG": filepath.Join(tokenFile, "none"), "HOME": t.TempDir()}, errdef.ErrUnsupported},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		cfg, err := Parse([]byte(withAuth(tc.provider)))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Dir = t.TempDir()
		_, err = BuildStore(cfg, BuildOptions{})
		if errors.Is(tc.want, errdef.ErrUnsupported) && errors.Is(err, errdef.ErrInvalidConfig) {
			continue // built with -tags k8s
		}
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s %v: err = %v, want %v", tc.provider, tc.env, err, tc.want)
		}
	}
}
