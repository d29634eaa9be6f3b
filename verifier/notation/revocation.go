package notation

import (
	"fmt"
	"net/http"

	"github.com/notaryproject/notation-core-go/revocation"
	corecrl "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-go/verifier/crl"

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
