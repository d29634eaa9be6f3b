//go:build fuzzseeds

package redis

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/cache"
)

// TestWriteFuzzSeeds rewrites the seed corpus of FuzzOpen in testdata/fuzz:
// verdicts as the provider shares them (a pass with a notation report and
// a nested SBOM report, a failure, a multi-platform result) sealed with
// FuzzOpen's key under cache.ResultKey keys for the cluster and for a
// namespace, and the first of them flipped in its header, MAC and payload.
// The seal is deterministic, so the file contents change only when the
// seal's format or the verdicts do. Run it with `go test -tags fuzzseeds -run TestWriteFuzzSeeds`.
func TestWriteFuzzSeeds(t *testing.T) {
	k := deriveKeys([]byte("0123456789abcdef0123456789abcdef"), resultEntries) // FuzzOpen's key
	const (
		config  = "sha256:9f2c1b5ad3b8c1de0e2f4f2d5c1c0a7e3b6f8e2d1c4a5b6c7d8e9f0a1b2c3d4e"
		subject = "registry.example/team/app@sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
	)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	notation := ratify.Report{Subject: subject, IsSuccess: true, Name: "notation", VerifierName: "notation", Type: "notation", VerifierType: "notation",
		ReferenceDigest: "sha256:2f1d7d6b5ad4b7c0c3a8f9d0e1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e", ArtifactType: "application/vnd.cncf.notary.signature",
		Message:    "signature verification success",
		Extensions: map[string]any{"Issuer": "CN=ratify-bats-test,O=Notary,L=Seattle,ST=WA,C=US", "SN": "CN=ratify-bats-test,O=Notary,L=Seattle,ST=WA,C=US"}}
	sbom := ratify.Report{Subject: subject, IsSuccess: true, Name: "sbom", VerifierName: "sbom", Type: "sbom", VerifierType: "sbom",
		ReferenceDigest: "sha256:8c5bd0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9", ArtifactType: "application/spdx+json",
		Extensions:    map[string]any{"creationInfo": map[string]any{"created": "2025-05-30T08:00:00Z", "creators": []string{"Tool: syft-1.4.1"}}},
		NestedResults: []ratify.Report{{Subject: "registry.example/team/app@sha256:8c5bd0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9", IsSuccess: true, VerifierName: "notation", ArtifactType: "application/vnd.cncf.notary.signature"}}}
	pass := ratify.Result{Version: "1.1.0", IsSuccess: true, Timestamp: at, VerifierReports: []ratify.Report{notation, sbom}}
	failed := notation
	failed.IsSuccess, failed.Message = false, ""
	failed.ErrorReason = "signature is not produced by a trusted signer"
	failed.Remediation = "Ensure that the signing certificate's root is in a trust store the trust policy names."
	fail := ratify.Result{Version: "1.1.0", IsSuccess: false, Timestamp: at, VerifierReports: []ratify.Report{failed}}
	multi := ratify.Result{Version: "1.1.0", IsSuccess: true, Timestamp: at, VerifierReports: []ratify.Report{},
		Platforms: []ratify.PlatformResult{{Platform: "linux/amd64", Subject: subject, IsSuccess: true, VerifierReports: []ratify.Report{notation}}}}

	for _, s := range []struct {
		name, key  string
		verdict    ratify.Result
		flip       int
		mask       byte
		notAfterIn time.Duration
	}{
		{"pass-cluster", cache.ResultKey(config, "", subject, nil), pass, 0, 0, time.Minute},
		{"fail-namespace", cache.ResultKey(config, "team-a", subject, nil), fail, 0, 0, 2 * time.Second},
		{"platforms-artifact-types", cache.ResultKey(config, "", subject, []string{"application/vnd.cncf.notary.signature", "application/spdx+json"}),
			multi, 0, 0, time.Minute},
		{"pass-flipped-expiry", cache.ResultKey(config, "", subject, nil), pass, 8, 0x01, time.Minute},
		{"pass-flipped-mac", cache.ResultKey(config, "", subject, nil), pass, 20, 0x80, time.Minute},
		{"pass-flipped-payload", cache.ResultKey(config, "", subject, nil), pass, -3, '"' ^ '\'', time.Minute},
	} {
		payload, err := json.Marshal(s.verdict)
		if err != nil {
			t.Fatal(err)
		}
		sealed := k.seal(s.key, payload, at.Add(s.notAfterIn))
		writeSeed(t, s.name, s.key, sealed, s.flip, s.mask)
	}
}

// writeSeed writes one file of FuzzOpen's seed corpus,
// testdata/fuzz/FuzzOpen/<name>, in the "go test fuzz v1" format: the
// target's arguments in order.
func writeSeed(t *testing.T, name, cacheKey string, sealed []byte, flip int, mask byte) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "go test fuzz v1\nstring(%q)\n[]byte(%q)\nint(%d)\nbyte(%q)\n", cacheKey, sealed, flip, mask)
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
