package e2e

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// notationCmd drives the notation CLI with a configuration of its own: a
// HOME and $XDG_CONFIG_HOME/notation in temporary directories, holding a
// signingkeys.json (notation-go's config.SigningKeys) that this type writes.
type notationCmd struct {
	t         *testing.T
	env       []string
	configDir string // $XDG_CONFIG_HOME/notation
	keys      []signingKey
}

// signingKey is one entry of signingkeys.json: a key pair held in files
// (notation-go config.KeySuite with an X509KeyPair).
type signingKey struct {
	Name     string `json:"name"`
	KeyPath  string `json:"keyPath"`
	CertPath string `json:"certPath"`
}

// newNotation returns a notation CLI with an empty configuration.
func newNotation(t *testing.T) *notationCmd {
	t.Helper()
	env := isolatedEnv(t)
	var configHome string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "XDG_CONFIG_HOME="); ok {
			configHome = v
		}
	}
	n := &notationCmd{t: t, env: env, configDir: filepath.Join(configHome, "notation")}
	if err := os.MkdirAll(n.configDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return n
}

// addKey writes cert's private key (PKCS #8) and its chain, leaf first and
// root last (PEM), into the configuration directory and records them in
// signingkeys.json under name, as `notation key add` would.
func (n *notationCmd) addKey(name string, cert *testpki.Certificate) {
	n.t.Helper()
	der := must(x509.MarshalPKCS8PrivateKey(cert.Key))(n.t)
	keyPath := filepath.Join(n.configDir, "localkeys", name+".key")
	certPath := filepath.Join(n.configDir, "localkeys", name+".crt")
	if err := testpki.WritePEM(certPath, cert.Chain...); err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		n.t.Fatal(err)
	}
	n.keys = append(n.keys, signingKey{Name: name, KeyPath: keyPath, CertPath: certPath})
	data := must(json.MarshalIndent(map[string]any{"keys": n.keys}, "", "  "))(n.t)
	if err := os.WriteFile(filepath.Join(n.configDir, "signingkeys.json"), data, 0o600); err != nil {
		n.t.Fatal(err)
	}
}

// storeFlags returns the notation sign flags that store a signature the way
// a user would on a registry of kind k: through the referrers API on a
// registry that has it (--force-referrers-tag=false), and with notation's
// default, the referrers tag schema, on one that does not.
func storeFlags(k registryKind) []string {
	if k.referrers {
		return []string{"--force-referrers-tag=false"}
	}
	return nil
}

// sign runs `notation sign --insecure-registry --key KEY [flags] REF` and
// fails the test unless it succeeds. ref must name a digest.
func (n *notationCmd) sign(key, ref string, flags ...string) {
	n.t.Helper()
	args := append([]string{"sign", "--insecure-registry", "--key", key}, flags...)
	o := run(n.t, n.env, notationBin, append(args, ref)...)
	if o.code != 0 || !strings.Contains(o.stdout, "Successfully signed") {
		n.t.Fatalf("notation sign failed: %s", o)
	}
}

// signed pushes an image to repo and signs it with a new certificate of a
// new root CA through the notation CLI, stored as is usual on a registry of
// kind k, with flags added. It returns the image's digest reference, the
// root and the signing certificate.
func signed(t *testing.T, r *testregistry.Registry, k registryKind, repo string, flags ...string) (ref string, root, signer *testpki.Certificate) {
	t.Helper()
	root, signer = newSigner(t)
	n := newNotation(t)
	n.addKey("e2e", signer)
	_, ref = pushImage(t, r, repo)
	n.sign("e2e", ref, append(storeFlags(k), flags...)...)
	return ref, root, signer
}
