package notation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/openratify/ratify/errdef"
	"slices"

	"github.com/notaryproject/notation-go/verifier/truststore"
)

// CertificateSource supplies certificates that can change while ratify
// runs, such as a key management provider's; it is asked at every
// verification.
type CertificateSource interface {
	Certificates(ctx context.Context) ([]*x509.Certificate, error)
}

// SourceTrustStore is a truststore.X509TrustStore (Notary Project trust
// store specification) whose named stores are filled from certificate
// sources: SourceTrustStore[type][name] lists the sources of the store
// "type:name". It serves as Options.TrustStore, for Ratify v1's
// verificationCertStores. As for verificationCerts, a tsa store is given
// only the self-signed roots among its sources' certificates, since the
// Notary Project requires TSA trust anchors to be roots.
type SourceTrustStore map[truststore.Type]map[string][]CertificateSource

// GetCertificates returns the certificates of every source of the store.
// A source that fails makes the whole store fail (a verification then
// cannot conclude), unless other sources of the store supply certificates.
func (s SourceTrustStore) GetCertificates(ctx context.Context, typ truststore.Type, name string) ([]*x509.Certificate, error) {
	sources, ok := s[typ][name]
	if !ok {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("no key management provider serves trust store %s:%s", typ, name)}
	}
	var certs []*x509.Certificate
	var errs []error
	for _, src := range sources {
		got, err := src.Certificates(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range got {
			if typ == truststore.TypeTSA && !isRoot(c) {
				continue
			}
			if !slices.ContainsFunc(certs, c.Equal) {
				certs = append(certs, c)
			}
		}
	}
	if len(certs) == 0 {
		if len(errs) > 0 {
			err := fmt.Errorf("%w: %w", errdef.ErrTrustMaterialUnavailable, errors.Join(errs...))
			return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("trust store %s:%s: %v", typ, name, err), InnerError: err}
		}
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("trust store %s:%s: its key management providers serve no certificate", typ, name)}
	}
	return certs, nil
}
