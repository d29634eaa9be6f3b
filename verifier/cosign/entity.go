package cosign

import (
	"crypto"
	"crypto/x509"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// legacyEntity presents a cosign simple signing signature to sigstore-go
// as a verify.SignedEntity: a message signature over the payload, the
// Rekor entry of its bundle annotation and its RFC 3161 timestamp.
type legacyEntity struct {
	sig     *legacySignature
	content verify.VerificationContent
}

var _ verify.SignedEntity = (*legacyEntity)(nil)

func (e *legacyEntity) HasInclusionPromise() bool {
	for _, entry := range e.sig.entries {
		if entry.HasInclusionPromise() {
			return true
		}
	}
	return false
}

func (e *legacyEntity) HasInclusionProof() bool { return false }

func (e *legacyEntity) SignatureContent() (verify.SignatureContent, error) {
	return bundle.NewMessageSignature(e.sig.payloadDigest(), "SHA2_256", e.sig.sig), nil
}

func (e *legacyEntity) Timestamps() ([][]byte, error) { return e.sig.timestamps, nil }

func (e *legacyEntity) TlogEntries() ([]*tlog.Entry, error) { return e.sig.entries, nil }

func (e *legacyEntity) VerificationContent() (verify.VerificationContent, error) {
	return e.content, nil
}

// Version is that of the oldest bundle, whose checks (and compatibility
// with signatures of older clients) match cosign's legacy signatures.
func (e *legacyEntity) Version() (string, error) { return "v0.1", nil }

// keyContent is a trusted public key as verification content.
type keyContent struct{ pub crypto.PublicKey }

var _ verify.VerificationContent = keyContent{}

// CompareKey reports whether key, from a transparency log entry, is this
// key.
func (k keyContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	if eq, ok := key.(interface{ Equal(crypto.PublicKey) bool }); ok {
		return eq.Equal(k.pub)
	}
	return false
}

func (k keyContent) ValidAtTime(time.Time, root.TrustedMaterial) bool { return true }
func (k keyContent) Certificate() *x509.Certificate                   { return nil }
func (k keyContent) Intermediates() []*x509.Certificate               { return nil }
func (k keyContent) PublicKey() verify.PublicKeyProvider              { return hint("") }

// hint is a key hint; the trusted material of a key serves its key
// whatever the hint.
type hint string

func (h hint) Hint() string { return string(h) }

// certContent is a signing certificate and the intermediates that came
// with it.
type certContent struct {
	cert  *x509.Certificate
	chain []*x509.Certificate
}

var _ verify.VerificationContent = certContent{}

// CompareKey reports whether key, from a transparency log entry, is this
// certificate.
func (c certContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	cert, ok := key.(*x509.Certificate)
	return ok && c.cert.Equal(cert)
}

func (c certContent) ValidAtTime(t time.Time, _ root.TrustedMaterial) bool {
	return !t.Before(c.cert.NotBefore) && !t.After(c.cert.NotAfter)
}

func (c certContent) Certificate() *x509.Certificate      { return c.cert }
func (c certContent) Intermediates() []*x509.Certificate  { return c.chain }
func (c certContent) PublicKey() verify.PublicKeyProvider { return nil }
