package k8secrets

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// FuzzParseSecret feeds arbitrary Secret contents (what anyone who may
// write a pull Secret controls) to the parser: it never panics, refusals
// wrap errdef.ErrInvalidConfig, and each credential goes only to the hosts
// its own "auths" key names, so that no entry can claim a credential for
// a registry it was not written for.
func FuzzParseSecret(f *testing.F) {
	f.Add(true, []byte(`{"auths":{"registry.example:5000":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"username":"u","password":"p"}}}`))
	f.Add(false, []byte(`{"registry.example":{"auth":"bm9jb2xvbg=="},"":{"identitytoken":"t"}}`))
	f.Add(true, []byte(`{"auths":{"HTTPS://Registry.Example/v2/":{"auth":"!"},"a/b":{"username":"x"}}}`))
	f.Add(true, []byte(`{"auths":null}`))
	f.Fuzz(func(t *testing.T, jsonForm bool, data []byte) {
		typ, key := TypeDockerConfig, ".dockercfg"
		if jsonForm {
			typ, key = TypeDockerConfigJSON, ".dockerconfigjson"
		}
		creds, err := parseSecret(typ, map[string][]byte{key: data})
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("parseSecret: %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		var auths map[string]dockerAuth
		if jsonForm {
			var cfg struct {
				Auths map[string]dockerAuth `json:"auths"`
			}
			_ = json.Unmarshal(data, &cfg)
			auths = cfg.Auths
		} else {
			_ = json.Unmarshal(data, &auths)
		}
		for host, c := range creds {
			found := false
			for k, a := range auths {
				want, err := a.credential()
				if err == nil && want == c && slices.Contains(hostsOf(k), host) {
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("credential for %q comes from no auths entry written for it", host)
			}
		}
	})
}
