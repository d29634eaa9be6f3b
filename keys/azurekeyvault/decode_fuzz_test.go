package azurekeyvault

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/openratify/ratify/errdef"
)

// FuzzDecode feeds arbitrary vault answers to the decoders: a
// certificate's secret value under either content type, and a key's JSON
// Web Key. Nothing panics; refusals wrap errdef.ErrInvalidContent or
// errdef.ErrUnsupported; a secret decodes to at least one certificate; an
// EC key is on its curve.
func FuzzDecode(f *testing.F) {
	f.Add(ContentTypePEM, "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", []byte(`{"kty":"EC","crv":"P-256","x":"AQ","y":"Ag"}`))
	f.Add(ContentTypePKCS12, "MIIB", []byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`))
	f.Add("text/plain", "", []byte(`{"kty":"oct"}`))
	f.Add(ContentTypePKCS12, "!!", []byte(`{"kty":"RSA-HSM","n":"","e":"AQABAQAB"}`))
	f.Add(ContentTypePEM, "", []byte(`{"kty":"EC-HSM","crv":"P-521","x":"`+string(make([]byte, 0))+`"}`))
	f.Fuzz(func(t *testing.T, contentType, value string, jwkJSON []byte) {
		certs, err := decodeSecret(contentType, value)
		switch {
		case err != nil && !errors.Is(err, errdef.ErrInvalidContent) && !errors.Is(err, errdef.ErrUnsupported):
			t.Fatalf("decodeSecret: %v wraps no sentinel", err)
		case err == nil && len(certs) == 0:
			t.Fatal("decodeSecret: no certificate and no error")
		}
		for _, c := range certs {
			if c == nil {
				t.Fatal("decodeSecret: nil certificate")
			}
		}
		var jwk azkeys.JSONWebKey
		if json.Unmarshal(jwkJSON, &jwk) != nil {
			return
		}
		pub, err := publicKey(&jwk)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidContent) && !errors.Is(err, errdef.ErrUnsupported) {
				t.Fatalf("publicKey: %v wraps no sentinel", err)
			}
			return
		}
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			if _, err := k.ECDH(); err != nil {
				t.Fatalf("publicKey returned a point that is not on its curve: %v", err)
			}
		case *rsa.PublicKey:
			if k.N == nil || k.N.Sign() <= 0 {
				t.Fatal("publicKey returned an RSA key without a modulus")
			}
		default:
			t.Fatalf("publicKey returned %T", pub)
		}
	})
}
