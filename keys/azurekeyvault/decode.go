package azurekeyvault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
)

// Content types of a certificate's secret (Key Vault "certificate
// policy", secret_props.contentType).
const (
	ContentTypePEM    = "application/x-pem-file"
	ContentTypePKCS12 = "application/x-pkcs12"
)

// decodeSecret returns the certificate chain of a certificate's secret
// value, leaf first. Private keys in the value are never kept.
func decodeSecret(contentType, value string) ([]*x509.Certificate, error) {
	switch contentType {
	case ContentTypePEM:
		certs, _, err := keys.ParsePEM([]byte(value))
		if err != nil {
			return nil, err
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("PEM secret holds no certificate: %w", errdef.ErrInvalidContent)
		}
		return certs, nil
	case ContentTypePKCS12:
		der, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return nil, fmt.Errorf("PKCS #12 secret is not base64: %v: %w", err, errdef.ErrInvalidContent)
		}
		// Key Vault exports with an empty password (RFC 7292).
		_, leaf, cas, err := pkcs12.DecodeChain(der, "")
		if err != nil {
			return nil, fmt.Errorf("PKCS #12 secret: %v: %w", err, errdef.ErrInvalidContent)
		}
		return append([]*x509.Certificate{leaf}, cas...), nil
	default:
		return nil, fmt.Errorf("secret content type %q is neither %s nor %s: %w", contentType, ContentTypePEM, ContentTypePKCS12, errdef.ErrUnsupported)
	}
}

// publicKey turns a JSON Web Key (RFC 7517, RFC 7518 section 6) of type
// RSA or EC (and their -HSM variants) into its public key.
func publicKey(jwk *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	if jwk == nil || jwk.Kty == nil {
		return nil, fmt.Errorf("key has no JSON Web Key: %w", errdef.ErrInvalidContent)
	}
	switch *jwk.Kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		if len(jwk.N) == 0 || len(jwk.E) == 0 || len(jwk.E) > 4 {
			return nil, fmt.Errorf("RSA key: bad modulus or exponent: %w", errdef.ErrInvalidContent)
		}
		n, e := new(big.Int).SetBytes(jwk.N), new(big.Int).SetBytes(jwk.E)
		// What crypto/rsa asks of a public key: an odd modulus (so not
		// zero), an odd exponent of at least 3 that fits in 31 bits.
		if n.Bit(0) == 0 || e.Bit(0) == 0 || e.Cmp(big.NewInt(3)) < 0 || e.BitLen() > 31 {
			return nil, fmt.Errorf("RSA key: bad modulus or exponent: %w", errdef.ErrInvalidContent)
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case azkeys.KeyTypeEC, azkeys.KeyTypeECHSM:
		var curve elliptic.Curve
		switch crv := deref(jwk.Crv); crv {
		case azkeys.CurveNameP256:
			curve = elliptic.P256()
		case azkeys.CurveNameP384:
			curve = elliptic.P384()
		case azkeys.CurveNameP521:
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("EC key on curve %q: %w", crv, errdef.ErrUnsupported)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(jwk.X) > size || len(jwk.Y) > size {
			return nil, fmt.Errorf("EC key: coordinates longer than the curve: %w", errdef.ErrInvalidContent)
		}
		// Parse the point through its uncompressed encoding (SEC 1, 2.3.3),
		// which checks that it is on the curve.
		point := make([]byte, 1+2*size)
		point[0] = 4
		copy(point[1+size-len(jwk.X):1+size], jwk.X)
		copy(point[1+2*size-len(jwk.Y):], jwk.Y)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("EC key: %v: %w", err, errdef.ErrInvalidContent)
		}
		return pub, nil
	default:
		return nil, fmt.Errorf("key type %q: %w", *jwk.Kty, errdef.ErrUnsupported)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
