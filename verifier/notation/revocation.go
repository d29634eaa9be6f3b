package notation

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/notaryproject/notation-core-go/revocation"
	corecrl "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/revocation/result"
	"github.com/notaryproject/notation-go/verifier/crl"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/errdef"
)

// revocationValidators builds the revocation checks of the Notary Project
// trust store and trust policy specification ("Certificate revocation
// evaluation"): OCSP (RFC 6960) first, CRL (RFC 5280) when a certificate has
// no OCSP server or its OCSP status is unknown, for the code-signing chain
// and for the timestamping chain. CRLs go through notation-go's file cache
// when opts.CRLCacheDir is set; a cache that cannot be read or written is
// bypassed, never a reason to fail a verification.
func revocationValidators(opts Options) (codeSigning, timestamping revocation.Validator, err error) {
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	fetcher, err := corecrl.NewHTTPFetcher(client)
	if err != nil {
		return nil, nil, err
	}
	if opts.CRLCacheDir != "" {
		pruneCRLCache(opts.CRLCacheDir, maxCRLCacheFiles, maxCRLCacheBytes)
		cache, err := crl.NewFileCache(opts.CRLCacheDir)
		if err != nil {
			return nil, nil, fmt.Errorf("CRL cache: %v: %w", err, errdef.ErrInvalidConfig)
		}
		fetcher.Cache = cache
		fetcher.DiscardCacheError = true
	}
	codeSigning, err = revocation.NewWithOptions(revocation.Options{
		OCSPHTTPClient:   client,
		CRLFetcher:       fetcher,
		CertChainPurpose: purpose.CodeSigning,
	})
	if err != nil {
		return nil, nil, err
	}
	timestamping, err = revocation.NewWithOptions(revocation.Options{
		OCSPHTTPClient:   client,
		CRLFetcher:       fetcher,
		CertChainPurpose: purpose.Timestamping,
	})
	if err != nil {
		return nil, nil, err
	}
	return codeSigning, timestamping, nil
}

// vouchedFor checks revocation only for chains that a trust store vouches
// for: one of the chain's certificates is in a trust store the trust
// policy document names. notation-go checks revocation at level audit
// even when the chain is not trusted (authenticity is only logged there),
// and the OCSP and CRL URLs of an untrusted chain are its author's: asking
// them would let anyone who can push a signature make ratify call hosts of
// their choosing (in-cluster services included), and whatever those
// addresses answer carries no assurance, since the author runs them. Such
// a chain's certificates are reported as not revocable, without a request:
// the verdict rests on the authenticity check, which the trust policy
// enforces (strict, permissive) or has chosen to only log (audit, or an
// override).
type vouchedFor struct {
	next   revocation.Validator
	store  *trustStore
	stores []storeRef
}

// storeRef names a trust store, as "type:name" in a trust policy.
type storeRef struct {
	typ  truststore.Type
	name string
}

// newVouchedFor wraps next with the trust stores doc names.
func newVouchedFor(next revocation.Validator, doc *trustpolicy.Document, store *trustStore) *vouchedFor {
	v := &vouchedFor{next: next, store: store}
	seen := map[string]bool{}
	for _, p := range doc.TrustPolicies {
		for _, ref := range p.TrustStores {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			typ, name, _ := strings.Cut(ref, ":")
			v.stores = append(v.stores, storeRef{truststore.Type(typ), name})
		}
	}
	return v
}

// ValidateContext implements revocation.Validator.
func (v *vouchedFor) ValidateContext(ctx context.Context, opts revocation.ValidateContextOptions) ([]*result.CertRevocationResult, error) {
	for _, s := range v.stores {
		certs, err := v.store.GetCertificates(ctx, s.typ, s.name)
		if err != nil {
			continue // a store that cannot be read vouches for nothing
		}
		for _, c := range certs {
			if slices.ContainsFunc(opts.CertChain, c.Equal) {
				return v.next.ValidateContext(ctx, opts)
			}
		}
	}
	out := make([]*result.CertRevocationResult, len(opts.CertChain))
	for i := range out {
		out[i] = &result.CertRevocationResult{Result: result.ResultNonRevokable}
	}
	return out, nil
}
