package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testregistry"
)

// TestRegistryTLSErrors: a registry whose certificate ratify does not
// trust, a plain-HTTP registry reached over HTTPS, and an HTTPS registry
// reached over plain HTTP. Each is "could not verify"
// (ErrRegistryUnavailable, naming the TLS problem), never a downgrade and
// never "unsigned"; the registry's CA in registryCABundles makes the same
// registry verify.
func TestRegistryTLSErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tls     bool
		useHTTP bool
		bundle  bool
		reason  string // in the error, when it fails
	}{
		{"certificate not trusted", true, false, false, "TLS certificate not trusted"},
		{"plain-HTTP registry over HTTPS", false, false, false, "HTTP response to HTTPS client"},
		{"HTTPS registry over plain HTTP", true, true, false, ""},
		{"certificate trusted through registryCABundles", true, false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			f := newFixture(t, testregistry.Options{Referrers: true, TLS: tc.tls})
			cfg := baseConfig()
			storePlugin(cfg)["useHttp"] = tc.useHTTP
			if tc.bundle {
				data, err := os.ReadFile(f.reg.CAFile(t))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(f.dir, "registry-ca.pem"), data, 0o600); err != nil {
					t.Fatal(err)
				}
				storePlugin(cfg)["registryCABundles"] = map[string]string{f.reg.Host(): "registry-ca.pem"}
			}
			path := writeConfig(t, f.dir, cfg)
			res, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
			if tc.bundle {
				if err != nil || !res.IsSuccess {
					t.Fatalf("with the registry's CA: %+v, %v", res, err)
				}
				return
			}
			wantErr(t, "executor", err, errdef.ErrRegistryUnavailable)
			if tc.reason != "" && !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("the error does not say %q: %v", tc.reason, err)
			}
			p := startProvider(t, server.Options{ConfigPath: path})
			wantItemErrors(t, p.post(t, "verify", f.ref("app/signed", f.signed)), errdef.ErrRegistryUnavailable)
		})
	}
}
