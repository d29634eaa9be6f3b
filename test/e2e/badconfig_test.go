package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/openratify/ratify/internal/testregistry"
)

func TestVerifyBadConfig(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	_, ref := pushImage(t, r, "app")
	good := must(os.ReadFile(trustedConfig(t)))(t)

	for _, tc := range []struct {
		name    string
		edit    func(cfg map[string]any)
		raw     []byte
		reasons []string
	}{
		{name: "bad JSON", raw: []byte(`{"store": {"version": "1.0.0",`), reasons: []string{"invalid configuration"}},
		{name: "not an object", raw: []byte(`["store"]`), reasons: []string{"invalid configuration"}},
		{name: "unknown field", edit: func(cfg map[string]any) { plugin(cfg, "store")["useHtttp"] = true },
			reasons: []string{"store.plugins[0].useHtttp", "invalid configuration"}},
		{name: "mistyped field", edit: func(cfg map[string]any) { plugin(cfg, "store")["useHttp"] = "yes" },
			reasons: []string{"store.plugins[0].useHttp", "invalid configuration"}},
		{name: "unknown trust policy field", edit: func(cfg map[string]any) {
			doc := plugin(cfg, "verifier")["trustPolicyDoc"].(map[string]any)
			doc["trustPolicies"].([]any)[0].(map[string]any)["registryScope"] = []string{"*"}
		}, reasons: []string{"verifier.plugins[0].trustPolicyDoc.trustPolicies[0].registryScope", "invalid configuration"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if tc.edit != nil {
				var cfg map[string]any
				if err := json.Unmarshal(good, &cfg); err != nil {
					t.Fatal(err)
				}
				tc.edit(cfg)
				data = must(json.Marshal(cfg))(t)
			}
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			wantCouldNotVerify(t, ratify(t, "verify", "-s", ref, "-c", path), tc.reasons...)
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nowhere", "config.json")
		wantCouldNotVerify(t, ratify(t, "verify", "-s", ref, "-c", path), path, "does not exist")
	})
}

// TestVerifyBadConfigReasonIsOneLine feeds ratify the two mistakes of an
// indented config.json (the usual layout) that make the config decoder
// quote the JSON it could not use. The reason must still be one line.
//
// It fails today: config's typeError (config/strict.go) quotes up to 40
// bytes of the raw JSON, newlines included, so the reason spans several
// lines. A truncated file is also reported as "config: expected an object,
// got {..." rather than as the JSON syntax error it is.
func TestVerifyBadConfigReasonIsOneLine(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	_, ref := pushImage(t, r, "app")
	good := must(os.ReadFile(trustedConfig(t)))(t)
	for name, data := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"mistyped":  bytes.Replace(good, []byte(`"useHttp": true`), []byte("\"useHttp\": {\n  \"yes\": true\n}"), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(data, good) {
				t.Fatal("the edit did not apply")
			}
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			wantCouldNotVerify(t, ratify(t, "verify", "-s", ref, "-c", path), "invalid configuration")
		})
	}
}

// plugin returns the first entry of cfg[section].plugins.
func plugin(cfg map[string]any, section string) map[string]any {
	return cfg[section].(map[string]any)["plugins"].([]any)[0].(map[string]any)
}
