package config

import (
	"errors"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// FuzzParse feeds arbitrary bytes to the config decoder: it must never
// panic, and every rejection must wrap errdef.ErrInvalidConfig.
func FuzzParse(f *testing.F) {
	f.Add([]byte(v1Config))
	f.Add([]byte(`{"store":{"plugins":[{"name":"oras"}]},"verifier":{"plugins":[{"name":"notation","trustPolicyDoc":{}}]}}`))
	f.Add([]byte(`{"verifier":{"plugins":[{"type":"notation","name":"x","artifactTypes":["a","b"]}]}}`))
	f.Add([]byte(`{"policy":{"plugin":{"name":"configPolicy","artifactVerificationPolicies":{"a":"any"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Parse(data); err != nil && !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Fatalf("Parse error %v does not wrap ErrInvalidConfig", err)
		}
	})
}
