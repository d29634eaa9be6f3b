//go:build fuzzseeds

package attestation

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFuzzSeeds rewrites the seed corpus of FuzzAttestationParsing
// in testdata/fuzz: in-toto statements about the tests' image as real
// builders and scanners write them (GitHub's SLSA provenance v1,
// BuildKit's provenance v0.2 in a Statement v0.1, an SPDX document, a
// cosign vulnerability report), each as a DSSE envelope signed with a new
// key, as a Sigstore bundle (a key's, or keyless from sigstore-go's
// virtual Sigstore), and as the bare statement the target signs with its
// own trusted key. The keys are new on each run, so the committed
// envelopes and bundles are trusted by nothing the target builds. Run it
// with `go test -tags fuzzseeds -run TestWriteFuzzSeeds` after changing the parsers.
func TestWriteFuzzSeeds(t *testing.T) {
	k := newKey(t, "ecdsa-p384")
	s := newSigstore(t)
	spdx, err := os.ReadFile(filepath.Join("..", "sbom", "testdata", "alpine.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spdxDoc any
	if err := json.Unmarshal(spdx, &spdxDoc); err != nil {
		t.Fatal(err)
	}
	buildkit := map[string]any{
		"builder":   map[string]any{"id": "https://github.com/docker/buildx/actions/runs/1"},
		"buildType": "https://mobyproject.org/buildkit@v1",
		"materials": []any{map[string]any{"uri": "pkg:docker/alpine@3.20?platform=linux%2Famd64",
			"digest": map[string]string{"sha256": "beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d"}}},
		"invocation": map[string]any{"configSource": map[string]any{"entryPoint": "Dockerfile"},
			"parameters": map[string]any{"frontend": "dockerfile.v0"}},
		"metadata": map[string]any{"buildInvocationID": "x8qwmnqnnpe3cyd0yrkn3hx5i", "completeness": map[string]any{"parameters": true}},
	}
	v01 := statementJSON(t, image.Digest, "https://slsa.dev/provenance/v0.2", buildkit)
	v01 = []byte(strings.Replace(string(v01), StatementV1, StatementV01, 1))

	for _, st := range []struct {
		name      string
		statement []byte
		keyless   bool
	}{
		{"github-slsa-provenance-v1", statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, githubProvenance(githubBuilder, sourceRepo, sourceRef)), true},
		{"buildkit-provenance-v0.2", v01, false},
		{"spdx-document", statementJSON(t, image.Digest, "https://spdx.dev/Document", spdxDoc), false},
		{"cosign-vuln", statementJSON(t, image.Digest, vulnType, vulnReport("pkg:github/aquasecurity/trivy", 0)), true},
	} {
		bundle := k.bundle(t, st.statement)
		if st.keyless {
			bundle = s.attest(t, workflowIdentity, st.statement, bundleParts{})
		}
		writeSeed(t, st.name, k.envelope(t, st.statement), bundle, st.statement)
	}
}

// writeSeed writes one file of FuzzAttestationParsing's seed corpus,
// testdata/fuzz/FuzzAttestationParsing/<name>, in the "go test fuzz v1"
// format: the target's arguments in order.
func writeSeed(t *testing.T, name string, envelopeJSON, bundleJSON, payload []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range [][]byte{envelopeJSON, bundleJSON, payload} {
		fmt.Fprintf(&b, "[]byte(%q)\n", v)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzAttestationParsing")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
