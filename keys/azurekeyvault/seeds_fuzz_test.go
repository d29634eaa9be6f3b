//go:build fuzzseeds

package azurekeyvault_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/keys/azurekeyvault"
)

// TestWriteFuzzSeeds rewrites the seed corpus of FuzzDecode in
// testdata/fuzz: certificate secrets as Key Vault returns them (a chain of
// three as base64 PKCS#12, in the modern and the legacy encryption, and in
// PEM) beside keys as its key API returns them (JSON Web Keys of RSA and
// of ECDSA on P-256, P-384 and P-521, with the kid and key_ops the vault
// adds). The PEM secrets leave out the private key block the vault puts
// first, so that no PEM private key is committed for secret scanners to
// report. The keys are new on each run. Run it with
// `go test -tags fuzzseeds -run TestWriteFuzzSeeds` after changing the decoders.
func TestWriteFuzzSeeds(t *testing.T) {
	c := chain(t)
	modern, err := pkcs12.Modern.Encode(c.Key, c.Cert, c.Chain[1:], "")
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := pkcs12.LegacyRC2.Encode(c.Key, c.Cert, c.Chain[1:], "")
	if err != nil {
		t.Fatal(err)
	}
	kid := "https://myvault.vault.azure.net/keys/signer/0a7d6c1e5b8f4e2a9c3d1b7e6f5a4c3b"
	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK := map[string]any{"kid": kid, "kty": "RSA-HSM", "key_ops": []string{"sign", "verify", "wrapKey", "unwrapKey", "encrypt", "decrypt"},
		"n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())}
	ecJWK := func(curve elliptic.Curve, name string) map[string]any {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			t.Fatal(err)
		}
		n := (len(pub) - 1) / 2
		return map[string]any{"kid": kid, "kty": "EC", "key_ops": []string{"sign", "verify"}, "crv": name, "x": b64(pub[1 : 1+n]), "y": b64(pub[1+n:])}
	}
	for _, s := range []struct {
		name, contentType, value string
		jwk                      map[string]any
	}{
		{"pem-chain-ec-p256", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(c.Chain...)), ecJWK(elliptic.P256(), "P-256")},
		{"pkcs12-modern-rsa", azurekeyvault.ContentTypePKCS12, base64.StdEncoding.EncodeToString(modern), rsaJWK},
		{"pkcs12-legacy-ec-p384", azurekeyvault.ContentTypePKCS12, base64.StdEncoding.EncodeToString(legacy), ecJWK(elliptic.P384(), "P-384")},
		{"pem-leaf-ec-p521", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(c.Cert)), ecJWK(elliptic.P521(), "P-521")},
	} {
		jwk, err := json.Marshal(s.jwk)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "go test fuzz v1\nstring(%q)\nstring(%q)\n[]byte(%q)\n", s.contentType, s.value, jwk)
		dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
