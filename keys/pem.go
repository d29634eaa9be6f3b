package keys

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/openratify/ratify/errdef"
)

// ParsePEM reads the PEM blocks of data (RFC 7468): "CERTIFICATE" blocks
// into certificates, in order, and "PUBLIC KEY" (PKIX) and "RSA PUBLIC
// KEY" (PKCS #1) blocks into public keys. Other blocks, such as a private
// key stored beside a certificate in a key vault secret, are skipped and
// never kept. Data with no certificate and no key, or a block that does not
// parse, is an error wrapping errdef.ErrInvalidContent.
func ParsePEM(data []byte) ([]*x509.Certificate, []crypto.PublicKey, error) {
	var certs []*x509.Certificate
	var pubs []crypto.PublicKey
	rest := bytes.TrimSpace(data)
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("certificate %d: %v: %w", len(certs)+1, err, errdef.ErrInvalidContent)
			}
			certs = append(certs, c)
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("public key %d: %v: %w", len(pubs)+1, err, errdef.ErrInvalidContent)
			}
			pubs = append(pubs, k)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("public key %d: %v: %w", len(pubs)+1, err, errdef.ErrInvalidContent)
			}
			pubs = append(pubs, k)
		}
	}
	if len(certs) == 0 && len(pubs) == 0 {
		return nil, nil, fmt.Errorf("no PEM certificate or public key found: %w", errdef.ErrInvalidContent)
	}
	return certs, pubs, nil
}
