// Package keys holds trust material (X.509 certificates and public keys)
// that verifiers read at verification time, and the key management
// providers that supply it: Ratify v1's KeyManagementProvider resources
// (https://ratify.dev/docs/reference/custom%20resources/key-management-providers),
// whose types are implemented in sub-packages: keys/inline, keys/files and
// keys/azurekeyvault.
//
// A provider's material can change while ratify runs (a certificate in a
// key vault is rotated); a verifier therefore asks for it at every
// verification, and a provider serves its last good material when its
// source is unreachable, reporting the error in its Status (the
// KeyManagementProvider status fields issuccess, error, brieferror,
// lastfetchedtime and properties).
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// Provider serves a key management provider's current trust material.
// Implementations are safe for concurrent use.
type Provider interface {
	// Material returns the certificates and keys trusted now. An error
	// means no material could ever be obtained; material that was
	// obtained once is served (with its Status showing the error) when a
	// later refresh fails.
	Material(ctx context.Context) (Material, error)
	// Status describes the last refresh, for status reporting.
	Status() Status
}

// Material is a provider's trust material at one moment.
type Material struct {
	// Certificates are certificate chains (one per certificate item and
	// version), leaf first, as stored.
	Certificates []Certificate
	// Keys are public keys, one per key item and version.
	Keys []PublicKey
}

// X509 returns every certificate of every chain, without duplicates.
func (m Material) X509() []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range m.Certificates {
		for _, cert := range c.Chain {
			if !slices.ContainsFunc(out, cert.Equal) {
				out = append(out, cert)
			}
		}
	}
	return out
}

// Certificate is one certificate item (one version of it): its chain and
// where it came from.
type Certificate struct {
	Chain      []*x509.Certificate
	Properties Properties
}

// PublicKey is one public key item (one version of it): an
// *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey, and where it came
// from.
type PublicKey struct {
	Key        crypto.PublicKey
	Properties Properties
}

// Properties describe one item of a provider, served or dropped; they are
// what a KeyManagementProvider's status.properties lists.
type Properties struct {
	// Name and Version identify the item in its source (a vault's object
	// name and version, a file path); Version is empty when the source has
	// no versions.
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Kind is "certificate" or "key".
	Kind string `json:"kind"`
	// Enabled reports whether the source marks the item usable.
	Enabled bool `json:"enabled"`
	// Created and Expires are the source's timestamps, when it has them.
	Created time.Time `json:"created,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	// LastRefreshed is when the item was last read from its source.
	LastRefreshed time.Time `json:"lastRefreshed,omitzero"`
	// Dropped, when set, says why the item is not trusted (disabled,
	// expired, not yet valid); such items appear only in Status.
	Dropped string `json:"dropped,omitempty"`
	// Subject and Issuer name a certificate's leaf; KeyType a key's
	// algorithm ("ECDSA P-256", "RSA 3072", "Ed25519"); SHA256 is the
	// fingerprint of the leaf certificate or of the key's
	// SubjectPublicKeyInfo, hex encoded. Set when the material was read.
	Subject string `json:"subject,omitempty"`
	Issuer  string `json:"issuer,omitempty"`
	KeyType string `json:"keyType,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
}

// Describe fills in what p says of a certificate chain's leaf (or of a
// public key): subject, issuer, expiry when the source gave none, key type
// and fingerprint.
func (p *Properties) Describe(chain []*x509.Certificate, key crypto.PublicKey) {
	if len(chain) > 0 {
		leaf := chain[0]
		p.Subject, p.Issuer = leaf.Subject.String(), leaf.Issuer.String()
		if p.Expires.IsZero() {
			p.Expires = leaf.NotAfter
		}
		sum := sha256.Sum256(leaf.Raw)
		p.SHA256 = hex.EncodeToString(sum[:])
		key = leaf.PublicKey
	}
	p.KeyType = KeyType(key)
	if len(chain) == 0 {
		if der, err := x509.MarshalPKIXPublicKey(key); err == nil {
			sum := sha256.Sum256(der)
			p.SHA256 = hex.EncodeToString(sum[:])
		}
	}
}

// KeyType names a public key's algorithm and size: "ECDSA P-256",
// "RSA 3072", "Ed25519".
func KeyType(key crypto.PublicKey) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return ""
	default:
		return fmt.Sprintf("%T", key)
	}
}

// Kinds of items.
const (
	KindCertificate = "certificate"
	KindKey         = "key"
)

// Status is the outcome of a provider's last refresh, in the form of a
// KeyManagementProvider's status.
type Status struct {
	// Success is false when the last refresh failed, even if older
	// material is still served.
	Success bool `json:"issuccess"`
	// Error is the whole error of the last refresh; BriefError its first
	// line, shortened for a status column.
	Error      string `json:"error,omitempty"`
	BriefError string `json:"brieferror,omitempty"`
	// LastFetched is when material was last obtained successfully.
	LastFetched time.Time `json:"lastfetchedtime,omitzero"`
	// Properties describe every item, served or dropped.
	Properties []Properties `json:"properties,omitempty"`
}

// Static is a Provider whose material never changes (inline values and
// files read once).
type Static struct {
	material Material
	status   Status
}

// NewStatic returns a provider serving m, read at fetched.
func NewStatic(m Material, fetched time.Time) *Static {
	s := &Static{material: m, status: Status{Success: true, LastFetched: fetched}}
	for _, c := range m.Certificates {
		s.status.Properties = append(s.status.Properties, c.Properties)
	}
	for _, k := range m.Keys {
		s.status.Properties = append(s.status.Properties, k.Properties)
	}
	return s
}

// Material returns the provider's material (Provider).
func (s *Static) Material(context.Context) (Material, error) { return s.material, nil }

// Status reports success and the items (Provider).
func (s *Static) Status() Status { return s.status }
