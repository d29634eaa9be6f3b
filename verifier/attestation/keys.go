package attestation

import (
	"bytes"
	"context"
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

// maxKeyFileSize bounds a PEM key file.
const maxKeyFileSize = 1 << 20

// KeyInfo names a trusted key in reports. A key read from a file has
// Provider "file" and the path as Name.
type KeyInfo struct {
	Provider string `json:"provider,omitempty"`
	Name     string `json:"name,omitempty"`
	Version  string `json:"version,omitempty"`
}

// trustedKey is a public key ready to verify with; refused, when set,
// says why the key is never used.
type trustedKey struct {
	info     KeyInfo
	refused  string
	verifier *keyVerifier
}

// providerKeys selects keys of a key management provider.
type providerKeys struct {
	name     string
	provider keys.Provider
	key      string
	version  string
}

// newTrustedKey checks pub against the accepted key types.
func newTrustedKey(info KeyInfo, pub crypto.PublicKey) trustedKey {
	vs, err := keyVerifiers(pub)
	if err != nil {
		return trustedKey{info: info, refused: err.Error()}
	}
	return trustedKey{info: info, verifier: &keyVerifier{pub: pub, verifiers: vs}}
}

// keyVerifiers accepts RSA keys of 2048 to 4096 bits (PKCS #1 v1.5 or PSS
// with SHA-256), ECDSA keys on P-256, P-384 and P-521 (with the curve's
// hash, or SHA-256) and Ed25519 keys, the algorithms DSSE signers use.
func keyVerifiers(pub crypto.PublicKey) ([]signature.Verifier, error) {
	var vs []signature.Verifier
	add := func(v signature.Verifier, err error) error {
		if err == nil {
			vs = append(vs, v)
		}
		return err
	}
	var err error
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 || k.N.BitLen() > 4096 {
			return nil, fmt.Errorf("%d-bit RSA key refused: RSA keys must have 2048 to 4096 bits", k.N.BitLen())
		}
		err = errors.Join(add(signature.LoadRSAPKCS1v15Verifier(k, crypto.SHA256)),
			add(signature.LoadRSAPSSVerifier(k, crypto.SHA256, nil)))
	case *ecdsa.PublicKey:
		hash := map[elliptic.Curve]crypto.Hash{elliptic.P256(): crypto.SHA256, elliptic.P384(): crypto.SHA384, elliptic.P521(): crypto.SHA512}[k.Curve]
		if hash == 0 {
			return nil, fmt.Errorf("ECDSA key on curve %s refused: only P-256, P-384 and P-521 are accepted", k.Curve.Params().Name)
		}
		err = add(signature.LoadECDSAVerifier(k, hash))
		if hash != crypto.SHA256 {
			err = errors.Join(err, add(signature.LoadECDSAVerifier(k, crypto.SHA256)))
		}
	case ed25519.PublicKey:
		err = add(signature.LoadED25519Verifier(k))
	default:
		return nil, fmt.Errorf("key of type %T refused: only RSA, ECDSA and Ed25519 keys are accepted", pub)
	}
	if err != nil {
		return nil, err
	}
	return vs, nil
}

// keyVerifier verifies with one public key under each signature
// algorithm a DSSE signer may have used with it. It is a
// root.TimeConstrainedVerifier with no validity period: a configured key
// is trusted until it is removed from the configuration or its provider.
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

// material is the trusted material of this key: whatever key hint a
// bundle names, this key is the one tried.
func (k *keyVerifier) material() root.TrustedMaterial {
	return root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return k, nil })
}

// readKeyFile reads the public keys of a PEM file, refusing the file if
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

// keys returns every key trusted now: the files' and the providers'
// current keys. A provider that cannot serve its material, or no longer
// has a named key, is an error wrapping errdef.ErrTrustMaterialUnavailable.
func (v *Verifier) keys(ctx context.Context) ([]trustedKey, error) {
	out := append([]trustedKey(nil), v.fileKeys...)
	for _, pk := range v.providers {
		m, err := pk.provider.Material(ctx)
		if err != nil {
			if !errors.Is(err, errdef.ErrTrustMaterialUnavailable) {
				err = fmt.Errorf("%w: %w", errdef.ErrTrustMaterialUnavailable, err)
			}
			return nil, fmt.Errorf("key management provider %q: %w", pk.name, err)
		}
		found := false
		for _, k := range m.Keys {
			if pk.key != "" && (k.Properties.Name != pk.key || pk.version != "" && k.Properties.Version != pk.version) {
				continue
			}
			found = true
			out = append(out, newTrustedKey(KeyInfo{Provider: pk.name, Name: k.Properties.Name, Version: k.Properties.Version}, k.Key))
		}
		if !found {
			what := "any key"
			if pk.key != "" {
				what = fmt.Sprintf("key %q", pk.key)
				if pk.version != "" {
					what += fmt.Sprintf(" version %q", pk.version)
				}
			}
			return nil, fmt.Errorf("key management provider %q does not serve %s: %w", pk.name, what, errdef.ErrTrustMaterialUnavailable)
		}
	}
	if len(out) > MaxKeys {
		return nil, fmt.Errorf("%d keys, more than %d: %w", len(out), MaxKeys, errdef.ErrSizeExceedsLimit)
	}
	return out, nil
}
