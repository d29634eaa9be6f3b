package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testregistry"
)

// TestPluginLogsReachServerLog: what an external verifier plugin writes to
// standard error is logged through the server's logger, with the
// verifier's name, not through the process's default logger.
func TestPluginLogsReachServerLog(t *testing.T) {
	const thingType = "application/vnd.example.thing"
	bin := t.TempDir()
	script := "#!/bin/sh\ncat >/dev/null\necho 'the thing plugin was here' >&2\n" +
		`echo '{"isSuccess":true,"message":"thing approved","name":"thing"}'` + "\n"
	if err := os.WriteFile(filepath.Join(bin, "thing"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, setup{config: func(cfg map[string]any) {
		v := cfg["verifier"].(map[string]any)
		v["pluginBinDirs"] = []string{bin}
		v["plugins"] = append(v["plugins"].([]any), map[string]any{"name": "thing", "artifactTypes": thingType})
		cfg["policy"].(map[string]any)["plugin"].(map[string]any)["artifactVerificationPolicies"].(map[string]any)[thingType] = "any"
	}})
	t.Cleanup(f.srv.Close)
	f.reg.PushArtifact(t, "app/signed", testregistry.Artifact{ArtifactType: thingType, Subject: &f.signedAt,
		LayerMediaType: "application/octet-stream", Layer: []byte("approved")})
	if res, raw, itemErr := verifyOne(t, f.srv, f.signed); !res.IsSuccess {
		t.Fatalf("verify: %s %s", raw, itemErr)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "the thing plugin was here") || !strings.Contains(logs, "verifier=thing") {
		t.Errorf("the plugin's standard error is not in the server's log:\n%s", logs)
	}
}
