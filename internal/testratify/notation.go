package testratify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testpki"
)

// NotationTimeout bounds one run of the notation CLI. It is far above what
// a signature against a loopback registry needs; it only stops a hung
// process.
const NotationTimeout = 5 * time.Minute

// Notation drives the notation CLI with a configuration of its own: an
// isolated environment (Env) whose $XDG_CONFIG_HOME/notation holds a
// signingkeys.json (notation-go's config.SigningKeys) that AddKey writes.
type Notation struct {
	t         *testing.T
	bin       string
	env       []string
	home      string
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

// NewNotation returns the notation CLI bin (see NotationCLI) with an empty
// configuration.
func NewNotation(t *testing.T, bin string) *Notation {
	t.Helper()
	env, home := isolated(t)
	n := &Notation{t: t, bin: bin, env: env, home: home, configDir: filepath.Join(home, ".config", "notation")}
	if err := os.MkdirAll(filepath.Join(n.configDir, "localkeys"), 0o700); err != nil {
		t.Fatal(err)
	}
	return n
}

// AddKey writes cert's private key (PKCS #8) and its chain, leaf first and
// root last (PEM), into the configuration directory and records them in
// signingkeys.json under name, as `notation key add` would.
func (n *Notation) AddKey(name string, cert *testpki.Certificate) {
	n.t.Helper()
	keyPath := filepath.Join(n.configDir, "localkeys", name+".key")
	certPath := filepath.Join(n.configDir, "localkeys", name+".crt")
	if err := testpki.WritePEM(certPath, cert.Chain...); err != nil {
		n.t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.Key)
	if err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		n.t.Fatal(err)
	}
	n.keys = append(n.keys, signingKey{Name: name, KeyPath: keyPath, CertPath: certPath})
	data, err := json.MarshalIndent(map[string]any{"keys": n.keys}, "", "  ")
	if err != nil {
		n.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.configDir, "signingkeys.json"), data, 0o600); err != nil {
		n.t.Fatal(err)
	}
}

// Sign runs `notation sign --insecure-registry [flags] --key KEY REF` and
// fails the test unless it exits 0 and reports "Successfully signed". It
// returns what the CLI wrote to standard output. ref must name a digest.
// Flags choose how the signature is stored: "--force-referrers-tag=false"
// for the OCI distribution-spec v1.1 referrers API, none for notation's
// default, the referrers tag schema.
func (n *Notation) Sign(key, ref string, flags ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), NotationTimeout)
	defer cancel()
	args := append(append([]string{"sign", "--insecure-registry"}, flags...), "--key", key, ref)
	cmd := exec.CommandContext(ctx, n.bin, args...)
	cmd.Env = n.env
	cmd.Dir = n.home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil || !strings.Contains(stdout.String(), "Successfully signed") {
		n.t.Fatalf("notation sign failed: `%s %s`: %v\n--- stdout:\n%s\n--- stderr:\n%s",
			n.bin, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
