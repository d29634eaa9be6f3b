package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/openratify/ratify/api/v1beta1"
)

const notationType = "application/vnd.cncf.notary.signature"

// TestStatus checks the status each resource gets, judged on its own, and
// that only accepted resources reach the engine.
func TestStatus(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	pluginDir := filepath.Join(home, ".ratify", "plugins") // where Ratify v1 looks for verifier plugins
	f := newFixture(t)
	missing := filepath.Join(f.dir, "missing")
	tests := []struct {
		name string
		obj  func() client.Object
		want v1beta1.ResourceStatus
	}{
		{"good verifier", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-notation"), Spec: v1beta1.VerifierSpec{
				Name: "notation", ArtifactTypes: notationType, Parameters: notationParams(t, f.certDir)}}
		}, v1beta1.ResourceStatus{IsSuccess: true}},
		{"verifier with a certificate path that does not exist", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-missing-certs"), Spec: v1beta1.VerifierSpec{
				Name: "notation", ArtifactTypes: notationType, Parameters: notationParams(t, missing)}}
		}, v1beta1.ResourceStatus{
			Error:      fmt.Sprintf(`verifier.plugins[0] (notation): trust policy "default" names trust store "ca:certs", but verificationCerts [%q] provide no certificate for it: invalid configuration`, missing),
			BriefError: shorten(fmt.Sprintf(`trust policy "default" names trust store "ca:certs", but verificationCerts [%q] provide no certificate for it`, missing))}},
		{"verifier using key management providers", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-kmp"), Spec: v1beta1.VerifierSpec{
				Name: "notation-kmp", Type: "notation", ArtifactTypes: notationType, Parameters: raw(t, `{"verificationCertStores":{"certs":["kmp-inline"]},"trustPolicyDoc":`+trustPolicy+`}`)}}
		}, v1beta1.ResourceStatus{IsSuccess: true}}, // the provider may come later: see TestKeyProviderFeedsVerifier
		{"schemavalidator without schemas", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-schema"), Spec: v1beta1.VerifierSpec{
				Name: "schemavalidator", ArtifactTypes: "application/spdx+json"}}
		}, v1beta1.ResourceStatus{
			Error:      "verifier.plugins[0].schemas: no schema configured; map each layer media type to a JSON Schema: invalid configuration",
			BriefError: "schemas: no schema configured; map each layer media type to a JSON Schema"}},
		{"plugin that is not installed", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-plugin"), Spec: v1beta1.VerifierSpec{
				Name: "licensechecker", ArtifactTypes: "application/spdx+json"}}
		}, v1beta1.ResourceStatus{
			Error:      fmt.Sprintf(`verifier.plugins[0] (licensechecker): plugin "licensechecker" not found in plugin directories %s: invalid configuration`, pluginDir),
			BriefError: fmt.Sprintf(`plugin "licensechecker" not found in plugin directories %s`, pluginDir)}},
		{"cosign verifier trusting nothing", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-cosign"), Spec: v1beta1.VerifierSpec{
				Name: "cosign", ArtifactTypes: "application/vnd.dev.cosign.artifact.sig.v1+json"}}
		}, v1beta1.ResourceStatus{
			Error:      `verifier.plugins[0].trustPolicies: no trust policies and no key: nothing would be trusted: invalid configuration`,
			BriefError: `trustPolicies: no trust policies and no key: nothing would be trusted`}},
		{"verifier with an unknown field", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-typo"), Spec: v1beta1.VerifierSpec{
				Name: "notation", ArtifactTypes: notationType,
				Parameters: raw(t, fmt.Sprintf(`{"verificationCert":[%q],"trustPolicyDoc":%s}`, f.certDir, trustPolicy))}}
		}, v1beta1.ResourceStatus{
			Error:      "verifier.plugins[0].verificationCert: unknown field (known: verificationCerts, verificationCertStores, trustPolicyDoc): invalid configuration",
			BriefError: "verificationCert: unknown field (known: verificationCerts, verificationCertStores, trustPolicyDoc)"}},
		{"verifier with parameters that are not an object", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-list"), Spec: v1beta1.VerifierSpec{
				Name: "notation", ArtifactTypes: notationType, Parameters: raw(t, `["a"]`)}}
		}, v1beta1.ResourceStatus{
			Error:      "spec.parameters: expected an object: invalid configuration",
			BriefError: "spec.parameters: expected an object"}},
		{"verifier to download", func() client.Object {
			return &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-source"), Spec: v1beta1.VerifierSpec{
				Name: "notation", ArtifactTypes: notationType, Parameters: notationParams(t, f.certDir),
				Source: &v1beta1.PluginSource{Artifact: "registry.example/plugin:v1"}}}
		}, v1beta1.ResourceStatus{
			Error:      "verifier.plugins[0].source: downloading verifier plugins is not supported: invalid configuration",
			BriefError: "source: downloading verifier plugins is not supported"}},
		{"good namespaced verifier", func() client.Object {
			return &v1beta1.NamespacedVerifier{ObjectMeta: objMeta("team-a", "verifier-notation"), Spec: v1beta1.VerifierSpec{
				Name: "notation", ArtifactTypes: notationType, Parameters: notationParams(t, f.certDir)}}
		}, v1beta1.ResourceStatus{IsSuccess: true}},
		{"good store", func() client.Object {
			return &v1beta1.Store{ObjectMeta: objMeta("", "store-oras"), Spec: v1beta1.StoreSpec{
				Name: "oras", Parameters: raw(t, `{"useHttp":true,"cosignEnabled":true}`)}}
		}, v1beta1.ResourceStatus{IsSuccess: true}},
		{"store of an unknown type", func() client.Object {
			return &v1beta1.NamespacedStore{ObjectMeta: objMeta("team-a", "store-disk"), Spec: v1beta1.StoreSpec{Name: "disk"}}
		}, v1beta1.ResourceStatus{
			Error:      `store.plugins[0].name: unknown store "disk" (supported: oras): invalid configuration`,
			BriefError: `name: unknown store "disk" (supported: oras)`}},
		{"store to download", func() client.Object {
			return &v1beta1.NamespacedStore{ObjectMeta: objMeta("team-a", "store-source"), Spec: v1beta1.StoreSpec{
				Name: "oras", Source: &v1beta1.PluginSource{Artifact: "registry.example/plugin:v1"}}}
		}, v1beta1.ResourceStatus{
			Error:      "spec.source: downloading store plugins is not supported: unsupported",
			BriefError: "spec.source: downloading store plugins is not supported"}},
		{"store with an unknown auth provider", func() client.Object {
			return &v1beta1.NamespacedStore{ObjectMeta: objMeta("team-a", "store-k8s-secrets"), Spec: v1beta1.StoreSpec{
				Name: "oras", Parameters: raw(t, `{"authProvider":{"name":"k8sSecrets"}}`)}}
		}, v1beta1.ResourceStatus{
			Error:      `store.plugins[0].authProvider.name: unknown auth provider "k8sSecrets" (dockerConfig, k8Secrets, azureWorkloadIdentity, azureManagedIdentity or awsEcrBasic): invalid configuration`,
			BriefError: shorten(`authProvider.name: unknown auth provider "k8sSecrets" (dockerConfig, k8Secrets, azureWorkloadIdentity, azureManagedIdentity or awsEcrBasic)`)}},
		{"good policy", func() client.Object {
			return &v1beta1.Policy{ObjectMeta: objMeta("", "ratify-policy"), Spec: v1beta1.PolicySpec{
				Type: "config-policy", Parameters: raw(t, `{"artifactVerificationPolicies":{"default":"any"}}`)}}
		}, v1beta1.ResourceStatus{IsSuccess: true}},
		{"inactive policy", func() client.Object {
			return &v1beta1.Policy{ObjectMeta: objMeta("", "other-policy"), Spec: v1beta1.PolicySpec{
				Type: "config-policy", Parameters: raw(t, `{"artifactVerificationPolicies":{"default":"any"}}`)}}
		}, v1beta1.ResourceStatus{
			Error:      "metadata.name must be ratify-policy, got other-policy: this Policy is inactive: invalid configuration",
			BriefError: "metadata.name must be ratify-policy, got other-policy: this Policy is inactive"}},
		{"rego policy", func() client.Object {
			return &v1beta1.NamespacedPolicy{ObjectMeta: objMeta("team-a", "ratify-policy"), Spec: v1beta1.PolicySpec{
				Type: "rego-policy", Parameters: raw(t, `{"policy":"package ratify.policy\ndefault valid := true"}`)}}
		}, v1beta1.ResourceStatus{IsSuccess: true}},
		{"rego policy that does not parse", func() client.Object {
			return &v1beta1.NamespacedPolicy{ObjectMeta: objMeta("team-d", "ratify-policy"), Spec: v1beta1.PolicySpec{
				Type: "rego-policy", Parameters: raw(t, `{"policy":"package ratify.policy\nvalid {"}`)}}
		}, v1beta1.ResourceStatus{
			Error:      "policy.plugin.policy: policy.rego:2: rego_parse_error: unexpected eof token (as Rego v1 and as Rego v0, the dialect of Ratify v1): invalid configuration",
			BriefError: "policy: policy.rego:2: rego_parse_error: unexpected eof token (as Rego v1 and as Rego v0, the dialect of Ratify v1)"}},
		{"policy with a bad rule", func() client.Object {
			return &v1beta1.NamespacedPolicy{ObjectMeta: objMeta("team-b", "ratify-policy"), Spec: v1beta1.PolicySpec{
				Type: "config-policy", Parameters: raw(t, `{"artifactVerificationPolicies":{"default":"most"}}`)}}
		}, v1beta1.ResourceStatus{
			Error:      `policy.plugin.artifactVerificationPolicies["default"]: "most" is not "any" or "all": invalid configuration`,
			BriefError: `artifactVerificationPolicies["default"]: "most" is not "any" or "all"`}},
		{"policy of an unknown type", func() client.Object {
			return &v1beta1.NamespacedPolicy{ObjectMeta: objMeta("team-c", "ratify-policy"), Spec: v1beta1.PolicySpec{Type: "threshold"}}
		}, v1beta1.ResourceStatus{
			Error:      `spec.type "threshold": unknown policy type (supported: config-policy, rego-policy, threshold-policy): invalid configuration`,
			BriefError: `spec.type "threshold": unknown policy type (supported: config-policy, rego-policy, threshold-policy)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := tt.obj()
			f.apply(obj)
			if got := f.status(obj); got != tt.want {
				t.Errorf("status =\n%#v\nwant\n%#v", got, tt.want)
			}
			sec, _ := sectionOfObject(obj)
			if inEngine := f.state.has(key{sec, obj.GetNamespace(), obj.GetName()}); inEngine != tt.want.IsSuccess {
				t.Errorf("in the engine: %v, want %v", inEngine, tt.want.IsSuccess)
			}
		})
	}
}

func sectionOfObject(obj client.Object) (section, bool) {
	switch obj.(type) {
	case *v1beta1.Verifier, *v1beta1.NamespacedVerifier:
		return sectionVerifier, true
	case *v1beta1.Store, *v1beta1.NamespacedStore:
		return sectionStore, true
	case *v1beta1.Policy, *v1beta1.NamespacedPolicy:
		return sectionPolicy, true
	}
	return sectionKeys, false
}
