package config

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// FuzzCompose lays arbitrary sections over a valid config.json, as the
// Kubernetes resources of a tenant (namespaced Verifier, Store, Policy and
// KeyManagementProvider) supply them: composition never panics, every
// refusal wraps errdef.ErrInvalidConfig, and the base configuration is
// never changed by it. Building is left out: it reads the files the
// sections name.
func FuzzCompose(f *testing.F) {
	base, err := Parse([]byte(v1Config))
	if err != nil {
		f.Fatal(err)
	}
	before, err := json.Marshal(base)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"name":"notation","artifactTypes":"application/vnd.cncf.notary.signature","verificationCerts":["/etc/ratify/certs"]}`),
		[]byte(`{"name":"configPolicy","artifactVerificationPolicies":{"default":"any"}}`), []byte(`{"name":"oras","useHttp":true}`),
		[]byte(`{"name":"inline","type":"inline","parameters":{"contentType":"certificate","value":"x"}}`))
	f.Add([]byte(`{"name":"cosign","trustPolicies":[{"name":"t","scopes":["registry.io*"],"keys":[{"file":"k.pem"}]}]}`),
		[]byte(`{"name":"regoPolicy","policy":"package ratify.policy\nvalid := true"}`), []byte(`{"name":"oras","allowedRegistries":["*.*"]}`),
		[]byte(`{"name":"akv","type":"azurekeyvault","parameters":{"vaultURI":"http://169.254.169.254/"}}`))
	f.Add([]byte(`null`), []byte(`[]`), []byte(`{"name":"oras","authProvider":{"name":"k8Secrets","configPath":"/x"}}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, verifier, policy, store, keyProvider []byte) {
		parts := Parts{Verifiers: []json.RawMessage{verifier}, Policy: policy, Stores: []json.RawMessage{store},
			KeyProviders: []json.RawMessage{keyProvider}, DeferKeyReferences: len(verifier)%2 == 0}
		if _, err := Compose(base, parts); err != nil && !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Fatalf("Compose: %v does not wrap ErrInvalidConfig", err)
		}
		after, err := json.Marshal(base)
		if err != nil {
			t.Fatal(err)
		}
		if string(after) != string(before) {
			t.Fatalf("Compose changed its base configuration")
		}
	})
}
