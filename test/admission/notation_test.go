package admission

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// notationTimeout bounds one run of the notation CLI: a signature against a
// loopback registry takes well under a second.
const notationTimeout = 2 * time.Minute

// notationCLI returns the path of the notation CLI: $RATIFY_TEST_NOTATION
// when set (it must exist), else .cache/bin/notation built from tools/go.mod
// (the version the Makefile pins) as the Makefile builds it.
func notationCLI(root string) (string, error) {
	if path := os.Getenv("RATIFY_TEST_NOTATION"); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("RATIFY_TEST_NOTATION=%s: %w (build it with `make tools`, or unset the variable to have the tests build it)", path, err)
		}
		return path, nil
	}
	path := filepath.Join(root, ".cache", "bin", "notation")
	build := exec.Command("go", "build", "-o", path, "github.com/notaryproject/notation/cmd/notation")
	build.Dir = filepath.Join(root, "tools")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the notation CLI from tools/go.mod: go build -o %s (in %s): %w\n%s", path, build.Dir, err, out)
	}
	return path, nil
}

// notationKey is one entry of signingkeys.json: a key pair held in files
// (notation-go config.KeySuite with an X509KeyPair).
type notationKey struct {
	Name     string `json:"name"`
	KeyPath  string `json:"keyPath"`
	CertPath string `json:"certPath"`
}

// notationSign signs the image ref (host/repo@sha256:...) with signer
// through the notation CLI, as a user signs on a registry with the
// referrers API: `notation sign --insecure-registry
// --force-referrers-tag=false --key admission REF`. The CLI runs with a
// HOME and $XDG_CONFIG_HOME of its own, whose notation/signingkeys.json
// names signer's private key (PKCS #8) and its chain, leaf first and root
// last (PEM), as `notation key add` records them. It fails t unless the
// CLI reports the signature.
func notationSign(t *testing.T, ref string, signer *testpki.Certificate) {
	t.Helper()
	home := t.TempDir()
	configDir := filepath.Join(home, ".config", "notation")
	keyDir := filepath.Join(configDir, "localkeys")
	keyPath, certPath := filepath.Join(keyDir, "admission.key"), filepath.Join(keyDir, "admission.crt")
	if err := testpki.WritePEM(certPath, signer.Chain...); err != nil {
		t.Fatal(err)
	}
	der := must(x509.MarshalPKCS8PrivateKey(signer.Key))(t)
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := map[string]any{"keys": []notationKey{{Name: "admission", KeyPath: keyPath, CertPath: certPath}}}
	if err := os.WriteFile(filepath.Join(configDir, "signingkeys.json"), must(json.MarshalIndent(keys, "", "  "))(t), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), notationTimeout)
	defer cancel()
	args := []string{"sign", "--insecure-registry", "--force-referrers-tag=false", "--key", "admission", ref}
	cmd := exec.CommandContext(ctx, notationBin, args...)
	cmd.Env = notationEnv(home)
	cmd.Dir = home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || !strings.Contains(stdout.String(), "Successfully signed "+ref) {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", notationBin, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	t.Logf("notation %s:\n%s", strings.Join(args, " "), stdout.String())
}

// notationEnv returns the environment the notation CLI runs in: the test's,
// without what would reach the user's configuration, credentials or a
// proxy, with HOME and the XDG directories under home.
func notationEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "HOME", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
			"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "NOTATION_EXPERIMENTAL":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"),
	)
}

// notationReferrers returns the Notary Project signatures the registry's
// referrers API lists for the image of repo with digest dgst.
func notationReferrers(t *testing.T, reg *testregistry.Registry, repo, dgst string) []ocispec.Descriptor {
	t.Helper()
	url := "http://" + reg.Host() + "/v2/" + repo + "/referrers/" + dgst
	req := must(http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil))(t)
	resp := must(reg.Client().Do(req))(t)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var index ocispec.Index
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	var sigs []ocispec.Descriptor
	for _, d := range index.Manifests {
		if d.ArtifactType == testpki.ArtifactTypeNotation {
			sigs = append(sigs, d)
		}
	}
	return sigs
}
