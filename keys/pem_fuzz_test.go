package keys_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/keys"
)

// FuzzParsePEM feeds arbitrary PEM (inline key providers, files, key
// vault secrets) to the parser: it never panics, refusals wrap
// errdef.ErrInvalidContent, a success holds a certificate or key, and
// nothing it returns is a private key, whatever blocks the data carries.
func FuzzParsePEM(f *testing.F) {
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testpki.EncodePEM(root.Cert))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n" + string(testpki.EncodePEM(root.Cert))))
	f.Add([]byte("-----BEGIN RSA PUBLIC KEY-----\nMAA=\n-----END RSA PUBLIC KEY-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, pubs, err := keys.ParsePEM(data)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidContent) {
				t.Fatalf("ParsePEM: %v does not wrap ErrInvalidContent", err)
			}
			return
		}
		if len(certs) == 0 && len(pubs) == 0 {
			t.Fatal("success without a certificate or key")
		}
		for _, c := range certs {
			if c == nil {
				t.Fatal("nil certificate")
			}
		}
		for _, k := range pubs {
			switch k.(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			case crypto.Decrypter, crypto.Signer:
				t.Fatalf("a private key was returned: %T", k)
			}
		}
	})
}
