package e2e

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"testing"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// regoConfig writes a config.json trusting root with policy.plugin
// replaced by plugin.
func regoConfig(t *testing.T, root *x509.Certificate, plugin map[string]any) string {
	t.Helper()
	path := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root}})
	var cfg map[string]any
	if err := json.Unmarshal(must(os.ReadFile(path))(t), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["policy"].(map[string]any)["plugin"] = plugin
	if err := os.WriteFile(path, must(json.Marshal(cfg))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// allNotationValid is the kind of Rego policy Ratify v1's documentation
// shows (Rego v0 syntax, as v1 evaluated it): at least one artifact, and
// every report of every artifact successful.
const allNotationValid = `package ratify.policy

default valid := false

valid {
	count(input.verifierReports) > 0
	not failed
}

failed {
	report := input.verifierReports[_].verifierReports[_]
	not report.isSuccess
}
`

// TestVerifyRegoPolicy verifies with Ratify v1's regoPolicy through the
// CLI: the answer is in the nested 1.1.0 form, a signed image passes and an
// unsigned one fails, passthrough leaves the verdict to Gatekeeper, and a
// module that would call out is refused at load.
func TestVerifyRegoPolicy(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, root, _ := signed(t, r, k, "rego")
		_, unsigned := pushImage(t, r, "rego-unsigned")
		config := regoConfig(t, root.Cert, map[string]any{"name": "regoPolicy", "policy": allNotationValid})

		o := ratify(t, "verify", "-s", ref, "-c", config)
		wantExit(t, o, exitPassed)
		var res struct {
			Version         string `json:"version"`
			IsSuccess       bool   `json:"isSuccess"`
			VerifierReports []struct {
				Subject         string `json:"subject"`
				ArtifactType    string `json:"artifactType"`
				VerifierReports []struct {
					IsSuccess    bool   `json:"isSuccess"`
					VerifierName string `json:"verifierName"`
				} `json:"verifierReports"`
				NestedReports []any `json:"nestedReports"`
			} `json:"verifierReports"`
		}
		if err := json.Unmarshal([]byte(o.stdout), &res); err != nil {
			t.Fatalf("result: %v: %s", err, o)
		}
		if res.Version != "1.1.0" || !res.IsSuccess || len(res.VerifierReports) != 1 ||
			res.VerifierReports[0].ArtifactType != notationType || len(res.VerifierReports[0].VerifierReports) != 1 ||
			!res.VerifierReports[0].VerifierReports[0].IsSuccess || res.VerifierReports[0].NestedReports == nil {
			t.Errorf("result is not a passing 1.1.0 tree: %s", o.stdout)
		}

		wantExit(t, ratify(t, "verify", "-s", unsigned, "-c", config), exitFailed)

		passthrough := regoConfig(t, root.Cert, map[string]any{"name": "regoPolicy", "policy": allNotationValid, "passthroughEnabled": true})
		wantExit(t, ratify(t, "verify", "-s", ref, "-c", passthrough), exitFailed)

		callsOut := regoConfig(t, root.Cert, map[string]any{"name": "regoPolicy",
			"policy": "package ratify.policy\nvalid { http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1/\"}).status_code == 200 }"})
		wantCouldNotVerify(t, ratify(t, "verify", "-s", ref, "-c", callsOut), "http.send")
	})
}
