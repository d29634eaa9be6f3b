package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/config"
)

// params returns the spec.parameters of the rendered resource kind/name,
// after checking it decodes strictly into its api/v1beta1 type.
func params(t *testing.T, m manifest, kind, name string) map[string]any {
	t.Helper()
	obj := m.find(t, kind, name)
	types := map[string]any{"Store": &v1beta1.Store{}, "Verifier": &v1beta1.Verifier{}, "Policy": &v1beta1.Policy{},
		"KeyManagementProvider": &v1beta1.KeyManagementProvider{}}
	decode(t, obj, types[kind])
	p, _, _ := unstructured.NestedMap(obj.Object, "spec", "parameters")
	return p
}

// jsonEqual reports whether got, as JSON, is the JSON want.
func jsonEqual(t *testing.T, got any, want string) bool {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want: %v", err)
	}
	g := must(json.Marshal(got))(t)
	var gv any
	_ = json.Unmarshal(g, &gv)
	if !reflect.DeepEqual(gv, w) {
		t.Errorf("got  %s\nwant %s", g, want)
		return false
	}
	return true
}

// TestResourcesDefault: the defaults render the Store, the notation
// Verifier and the config Policy ratify-policy that config.json mirrors,
// and nothing that ratify does not have.
func TestResourcesDefault(t *testing.T) {
	m := render(t)
	jsonEqual(t, params(t, m, "Store", "store-oras"), `{"useHttp": false, "cosignEnabled": false}`)
	jsonEqual(t, params(t, m, "Verifier", "verifier-notation"), `{
		"verificationCerts": ["/usr/local/ratify-certs/notation"],
		"trustPolicyDoc": {"version": "1.0", "trustPolicies": [{"name": "default", "registryScopes": ["*"],
			"signatureVerification": {"level": "strict"}, "trustStores": ["ca:certs"], "trustedIdentities": ["*"]}]}}`)
	jsonEqual(t, params(t, m, "Policy", "ratify-policy"), `{"artifactVerificationPolicies": {"application/vnd.cncf.notary.signature": "any"}}`)
	if got := str(m.find(t, "Policy", "ratify-policy"), "spec", "type"); got != "config-policy" {
		t.Errorf("Policy type %q", got)
	}
	if v, k := m.ofKind("Verifier"), m.ofKind("KeyManagementProvider"); len(v) != 1 || len(k) != 0 {
		t.Errorf("Verifiers %v, KeyManagementProviders %v; want only verifier-notation", v, k)
	}

	// Ratify v1.0's trust store form {TYPE: NAME} and level field.
	m = render(t, "--set", "notation.trustPolicies[0].trustStores[0].ca=certs",
		"--set", "notation.trustPolicies[0].signatureVerification.level=audit", "--set", "notation.trustPolicies[0].name=v10")
	doc := params(t, m, "Verifier", "verifier-notation")["trustPolicyDoc"]
	jsonEqual(t, doc, `{"version": "1.0", "trustPolicies": [{"name": "v10", "registryScopes": ["*"],
		"signatureVerification": {"level": "audit"}, "trustStores": ["ca:certs"], "trustedIdentities": ["*"]}]}`)
}

// TestAKSKeyVaultGuide renders the Microsoft Learn AKS guide's values (Key
// Vault certificate, workload identity for ACR and the vault, a TSA root in
// notationCerts, Azure Policy add-on): every value lands where Ratify v1
// puts it, and config.json still builds on its own.
func TestAKSKeyVaultGuide(t *testing.T) {
	im := newImages(t)
	tsa := filepath.Join(t.TempDir(), "tsa.pem")
	if err := os.WriteFile(tsa, im.rootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	m := render(t, setArgs(t, "aks-akv-workload-identity.set", map[string]string{
		"IDENTITY_CLIENT_ID": "11111111-2222-3333-4444-555555555555", "AKV_NAME": "wabbit", "CERT_NAME": "wabbit-networks-io",
		"AKV_TENANT_ID": "66666666-7777-8888-9999-000000000000", "REPO_URI": "wabbitnetworks.azurecr.io/net-monitor",
		"SUBJECT": `CN=wabbit-networks.io\,O=Notary\,L=Seattle\,ST=WA\,C=US`, "TSA_ROOT_CERT_FILE": tsa,
	})...)
	jsonEqual(t, params(t, m, "Store", "store-oras"), `{"useHttp": false, "cosignEnabled": false,
		"authProvider": {"name": "azureWorkloadIdentity", "clientID": "11111111-2222-3333-4444-555555555555"}}`)
	jsonEqual(t, params(t, m, "KeyManagementProvider", "kmprovider-akv"), `{"vaultURI": "https://wabbit.vault.azure.net",
		"certificates": [{"name": "wabbit-networks-io"}], "tenantID": "66666666-7777-8888-9999-000000000000",
		"clientID": "11111111-2222-3333-4444-555555555555"}`)
	notation := params(t, m, "Verifier", "verifier-notation")
	jsonEqual(t, notation, `{"verificationCerts": ["/usr/local/ratify-certs/notation"],
		"verificationCertStores": {"ca": {"azurekeyvault": ["kmprovider-akv"]}},
		"trustPolicyDoc": {"version": "1.0", "trustPolicies": [{"name": "default",
			"registryScopes": ["wabbitnetworks.azurecr.io/net-monitor"], "signatureVerification": {"level": "strict"},
			"trustStores": ["ca:azurekeyvault", "tsa:notationCerts-0"],
			"trustedIdentities": ["x509.subject: CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US"]}]}}`)
	if a := m.ofKind("Assign"); len(a) != 0 {
		t.Errorf("provider.enableMutation=false renders Assigns %v", a)
	}

	// config.json builds on its own; the TSA root is in its tsa store and
	// the Key Vault store holds only the placeholder until the provider
	// serves it. The Verifier builds too, less the Key Vault store ratify
	// cannot read yet (internal/k8s: "verifiers cannot use them yet").
	p := newPod(t, m)
	base := p.base(t)
	build(t, base)
	for path, want := range map[string]string{"tsa/notationCerts-0/cert-0.pem": string(im.rootPEM()), "ca/azurekeyvault/placeholder.pem": ""} {
		got, err := os.ReadFile(filepath.Join(p.CertDir, filepath.FromSlash(path)))
		if err != nil || (want != "" && strings.TrimSpace(string(got)) != strings.TrimSpace(want)) {
			t.Errorf("%s: %v %q", path, err, got)
		}
	}
	parts := p.parts(t)
	var verifier map[string]any
	_ = json.Unmarshal(parts.Verifiers[0], &verifier)
	delete(verifier, "verificationCertStores")
	parts.Verifiers[0] = must(json.Marshal(verifier))(t)
	parts.Stores = nil // azureWorkloadIdentity: refused by config until it lands
	build(t, must(config.Compose(base, parts))(t))
}

// TestLegacyKeyVaultGuides renders the ratify.dev "Ratify on Azure" values,
// with the deprecated akvCertConfig: the certificate named either way
// reaches kmprovider-akv, in the default trust store ca:certs.
func TestLegacyKeyVaultGuides(t *testing.T) {
	vars := map[string]string{"VAULT_URI": "https://legacy.vault.azure.net/", "KEY_NAME": "ratify-sample",
		"TENANT_ID": "tenant-0", "IDENTITY_CLIENT_ID": "client-0"}
	for file, mutation := range map[string]bool{"ratify-on-azure-akvcertconfig.set": true, "ratify-on-azure-policy-addon.set": false} {
		m := render(t, setArgs(t, file, vars)...)
		jsonEqual(t, params(t, m, "KeyManagementProvider", "kmprovider-akv"), `{"vaultURI": "https://legacy.vault.azure.net/",
			"certificates": [{"name": "ratify-sample"}], "tenantID": "tenant-0", "clientID": "client-0"}`)
		notation := params(t, m, "Verifier", "verifier-notation")
		jsonEqual(t, notation["verificationCertStores"], `{"ca": {"certs": ["kmprovider-akv"]}}`)
		if got := len(m.ofKind("Assign")) > 0; got != mutation {
			t.Errorf("%s: Assigns rendered %v, want %v", file, got, mutation)
		}
		build(t, newPod(t, m).base(t))
	}
}

// TestCosignAndRego: cosign (off by default) renders its Verifier with an
// inline key provider per cosignKeys entry and turns the store's cosign
// lookup on; policy.useRego makes ratify-policy the rego policy of
// files/policy.rego.
func TestCosignAndRego(t *testing.T) {
	key := "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
	m := render(t, "--set", "cosign.enabled=true", "--set", "cosignKeys[0]="+key, "--set", "policy.useRego=true")
	jsonEqual(t, params(t, m, "KeyManagementProvider", "ratify-cosign-inline-key-0"), `{"contentType": "key", "value": `+string(must(json.Marshal(key))(t))+`}`)
	jsonEqual(t, params(t, m, "Verifier", "verifier-cosign"), `{"trustPolicies": [{"name": "default", "version": "1.0.0",
		"scopes": ["*"], "keys": [{"provider": "ratify-cosign-inline-key-0"}], "tLogVerify": true}]}`)
	if params(t, m, "Store", "store-oras")["cosignEnabled"] != true {
		t.Error("cosign.enabled does not turn the store's cosign lookup on")
	}
	policy := m.find(t, "Policy", "ratify-policy")
	want := must(os.ReadFile(filepath.Join(chartDir(), "files", "policy.rego")))(t)
	if str(policy, "spec", "type") != "rego-policy" || strings.TrimSpace(str(policy, "spec", "parameters", "policy")) != strings.TrimSpace(string(want)) {
		t.Errorf("Policy spec %v", policy.Object["spec"])
	}
	if got := params(t, m, "Policy", "ratify-policy")["passthroughEnabled"]; got != false {
		t.Errorf("passthroughEnabled %v", got)
	}
	if m := render(t, "--set", "cosignKeys[0]="+key); m.has("Verifier", "verifier-cosign") || len(m.ofKind("KeyManagementProvider")) != 0 {
		t.Error("cosignKeys without cosign.enabled renders cosign resources")
	}
}

// TestCRDs: the chart ships the CRDs (crds/, which Helm installs before the
// templates) of every kind it renders and of their Namespaced twins, in
// config.ratify.deislabs.io/v1beta1, and every field the chart sets in a
// resource's spec is one its CRD declares.
func TestCRDs(t *testing.T) {
	m := render(t, "--set", "cosign.enabled=true", "--set", "azurekeyvault.enabled=true", "--set", "azurekeyvault.vaultURI=https://v",
		"--set", "azurekeyvault.tenantId=t", "--set", "azurekeyvault.certificates[0].name=c", "--set", "azureWorkloadIdentity.clientId=i",
		"--set", "azurekeyvault.refreshInterval=1h")
	specFields := map[string][]string{}
	for _, kind := range []string{"Store", "Verifier", "Policy", "KeyManagementProvider"} {
		for _, name := range m.ofKind(kind) {
			spec, _, _ := unstructured.NestedMap(m.find(t, kind, name).Object, "spec")
			for f := range spec {
				specFields[kind] = append(specFields[kind], f)
			}
		}
	}
	for _, kind := range []string{"Store", "Verifier", "Policy", "KeyManagementProvider"} {
		for _, k := range []string{kind, "Namespaced" + kind} {
			plural := strings.ToLower(k) + "s"
			if k == "Policy" || k == "NamespacedPolicy" {
				plural = strings.ToLower(strings.TrimSuffix(k, "y")) + "ies"
			}
			crd := m.find(t, "CustomResourceDefinition", plural+".config.ratify.deislabs.io")
			if kindName := str(crd, "spec", "names", "kind"); kindName != k {
				t.Errorf("CRD %s names kind %s", crd.GetName(), kindName)
			}
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			var props map[string]any
			for _, v := range versions {
				v := v.(map[string]any)
				if v["name"] == "v1beta1" && v["served"] == true {
					props, _, _ = unstructured.NestedMap(v, "schema", "openAPIV3Schema", "properties", "spec", "properties")
				}
			}
			if props == nil {
				t.Errorf("CRD %s serves no v1beta1 with a spec schema", crd.GetName())
			}
			for _, f := range specFields[kind] {
				if _, ok := props[f]; !ok {
					t.Errorf("the chart sets %s spec.%s, which CRD %s does not declare", kind, f, crd.GetName())
				}
			}
		}
	}
}
