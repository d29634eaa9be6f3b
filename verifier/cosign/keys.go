package cosign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/keys"
)

// maxKeyFileSize bounds a PEM key file; a public key is well under 4 KiB.
const maxKeyFileSize = 1 << 20

// KeyInfo names a trusted key in reports: Ratify v1's keyInformation. A
// key read from a file has Provider "file" and the path as Name.
type KeyInfo struct {
	Provider string `json:"provider,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
}

// trustedKey is a public key a policy trusts, ready to verify with.
type trustedKey struct {
	info KeyInfo
	// algorithm describes the key ("ECDSA P-256"); refused, when set,
	// says why the key is not used.
	algorithm string
	refused   string
	verifier  *keyVerifier
}

// newTrustedKey checks pub against the accepted key types and prepares
// its verifier. A key of a refused type is returned with refused set.
func newTrustedKey(info KeyInfo, pub crypto.PublicKey) trustedKey {
	alg, verifiers, err := keyVerifiers(pub)
	if err != nil {
		return trustedKey{info: info, algorithm: alg, refused: err.Error()}
	}
	return trustedKey{info: info, algorithm: alg, verifier: &keyVerifier{pub: pub, verifiers: verifiers}}
}

// keyVerifiers accepts RSA keys of 2048 to 4096 bits (PKCS #1 v1.5 with
// SHA-256, as cosign signs), ECDSA keys on P-256, P-384 and P-521 (with
// the curve's hash, or SHA-256 as older cosign versions used for every
// curve) and Ed25519 keys (pure, or Ed25519ph as hashedrekord entries
// need), and refuses every other key.
func keyVerifiers(pub crypto.PublicKey) (string, []signature.Verifier, error) {
	var vs []signature.Verifier
	add := func(v signature.Verifier, err error) error {
		if err == nil {
			vs = append(vs, v)
		}
		return err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		alg := fmt.Sprintf("RSA %d", k.N.BitLen())
		if k.N.BitLen() < 2048 || k.N.BitLen() > 4096 {
			return alg, nil, fmt.Errorf("%d-bit RSA key refused: RSA keys must have 2048 to 4096 bits", k.N.BitLen())
		}
		return alg, vs, add(signature.LoadRSAPKCS1v15Verifier(k, crypto.SHA256))
	case *ecdsa.PublicKey:
		var hash crypto.Hash
		switch k.Curve {
		case elliptic.P256():
			hash = crypto.SHA256
		case elliptic.P384():
			hash = crypto.SHA384
		case elliptic.P521():
			hash = crypto.SHA512
		default:
			return "ECDSA " + k.Curve.Params().Name, nil, fmt.Errorf("ECDSA key on curve %s refused: only P-256, P-384 and P-521 are accepted", k.Curve.Params().Name)
		}
		alg := "ECDSA " + k.Curve.Params().Name
		if err := add(signature.LoadECDSAVerifier(k, hash)); err != nil {
			return alg, nil, err
		}
		if hash != crypto.SHA256 {
			return alg, vs, add(signature.LoadECDSAVerifier(k, crypto.SHA256))
		}
		return alg, vs, nil
	case ed25519.PublicKey:
		if err := add(signature.LoadED25519Verifier(k)); err != nil {
			return "Ed25519", nil, err
		}
		return "Ed25519", vs, add(signature.LoadED25519phVerifier(k))
	default:
		return fmt.Sprintf("%T", pub), nil, fmt.Errorf("key of type %T refused: only RSA, ECDSA and Ed25519 keys are accepted", pub)
	}
}

// keyVerifier verifies with one public key under each signature algorithm
// cosign may have used with it. It is a root.TimeConstrainedVerifier with
// no validity period: a configured key is trusted until it is removed from
// the configuration or its key management provider.
type keyVerifier struct {
	pub       crypto.PublicKey
	verifiers []signature.Verifier
}

var _ root.TimeConstrainedVerifier = (*keyVerifier)(nil)

// PublicKey returns the key (signature.PublicKeyProvider).
func (k *keyVerifier) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return k.pub, nil
}

// ValidAtTime reports true: configured keys have no validity period.
func (k *keyVerifier) ValidAtTime(time.Time) bool { return true }

// VerifySignature accepts the signature if any of the key's algorithms
// verifies it (signature.Verifier).
func (k *keyVerifier) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	s, err := io.ReadAll(sig)
	if err != nil {
		return err
	}
	var m []byte
	if message != nil {
		if m, err = io.ReadAll(message); err != nil {
			return err
		}
	}
	var errs []error
	for _, v := range k.verifiers {
		err := v.VerifySignature(bytes.NewReader(s), bytes.NewReader(m), opts...)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// material is the trusted material of one key: whatever key hint a
// signature names, this key is the one tried.
func (k *keyVerifier) material() root.TrustedMaterial {
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return k, nil })
}

// readKeyFile reads the public keys of a PEM file and refuses the file if
// any key is of a refused type. Errors wrap errdef.ErrInvalidConfig.
func readKeyFile(path string) ([]trustedKey, error) {
	data, err := limitedfile.Read(path, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("key file: %w: %w", err, errdef.ErrInvalidConfig)
	}
	_, pubs, err := keys.ParsePEM(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %v: %w", path, err, errdef.ErrInvalidConfig)
	}
	if len(pubs) == 0 {
		return nil, fmt.Errorf("key file %s has no PEM public key: %w", path, errdef.ErrInvalidConfig)
	}
	var out []trustedKey
	for _, pub := range pubs {
		k := newTrustedKey(KeyInfo{Provider: "file", Name: path}, pub)
		if k.refused != "" {
			return nil, fmt.Errorf("key file %s: %s: %w", path, k.refused, errdef.ErrInvalidConfig)
		}
		out = append(out, k)
	}
	return out, nil
}
