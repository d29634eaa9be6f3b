package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"oras.land/oras-go/v2/content"
	orasdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/openratify/ratify/errdef"
)

// ratifyErrors are the sentinels an error may already carry.
var ratifyErrors = []error{
	errdef.ErrInvalidReference, errdef.ErrInvalidConfig, errdef.ErrNotFound, errdef.ErrSizeExceedsLimit,
	errdef.ErrInvalidContent, errdef.ErrUnsupported, errdef.ErrUnauthorized, errdef.ErrRegistryUnavailable,
	errdef.ErrTimeout,
}

// classify wraps err, from talking to a registry about what, with the
// errdef sentinel that says what went wrong. It is the one table from
// registry failures to ratify errors:
//
//	404                                     ErrNotFound
//	401, 403, no credential                 ErrUnauthorized
//	408, 429, 5xx, other statuses,
//	network and DNS errors, TLS failures,
//	connections broken mid-body             ErrRegistryUnavailable
//	response too large                      ErrSizeExceedsLimit
//	malformed JSON, wrong digest or size,
//	any other breach of the protocol        ErrInvalidContent
//
// The registry's own error codes stay in the message. Context errors are
// left as they are: the caller's deadline or cancellation, not the
// registry's fault.
func classify(what string, err error) error {
	for _, s := range ratifyErrors {
		if errors.Is(err, s) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var resp *errcode.ErrorResponse
	if errors.Is(err, orasdef.ErrNotFound) && !errors.As(err, &resp) {
		// oras says only "<reference>: not found"; what names it already.
		return fmt.Errorf("%s: %w", what, errdef.ErrNotFound)
	}
	sentinel, hint := kind(err)
	if hint != "" {
		return fmt.Errorf("%s: %s: %w: %w", what, hint, sentinel, err)
	}
	return fmt.Errorf("%s: %w: %w", what, sentinel, err)
}

// kind returns the sentinel for err and, for failures users can act on, a
// hint.
func kind(err error) (sentinel error, hint string) {
	var (
		resp    *errcode.ErrorResponse
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		netErr  net.Error
		urlErr  *url.Error
	)
	switch {
	case errors.As(err, &resp):
		return statusError(resp.StatusCode), ""
	case errors.Is(err, orasdef.ErrNotFound):
		return errdef.ErrNotFound, ""
	case errors.Is(err, orasdef.ErrSizeExceedsLimit):
		return errdef.ErrSizeExceedsLimit, ""
	case errors.Is(err, orasdef.ErrUnsupported):
		return errdef.ErrUnsupported, ""
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return errdef.ErrUnauthorized, "the registry asks for credentials and none are configured"
	case errors.As(err, &dnsErr):
		return errdef.ErrRegistryUnavailable, fmt.Sprintf("cannot resolve host %q", dnsErr.Name)
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		return errdef.ErrRegistryUnavailable, "TLS certificate not trusted (configure the registry's CA bundle)"
	case errors.As(err, &recErr):
		return errdef.ErrRegistryUnavailable, "TLS handshake failed (does the registry speak plain HTTP? see useHttp)"
	case errors.As(err, &netErr), errors.As(err, &urlErr):
		return errdef.ErrRegistryUnavailable, ""
	case errors.As(err, &syntax), errors.As(err, &typeErr),
		errors.Is(err, content.ErrMismatchedDigest), errors.Is(err, content.ErrTrailingData),
		errors.Is(err, content.ErrInvalidDescriptorSize), errors.Is(err, io.ErrUnexpectedEOF):
		// Errors reading a body carry ErrRegistryUnavailable already
		// (limitedBody): an unexpected EOF here is JSON that ends too early.
		return errdef.ErrInvalidContent, ""
	}
	return errdef.ErrInvalidContent, ""
}

// statusError maps an HTTP status of a registry to a sentinel.
func statusError(status int) error {
	switch status {
	case http.StatusNotFound:
		return errdef.ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return errdef.ErrUnauthorized
	case http.StatusRequestEntityTooLarge:
		return errdef.ErrSizeExceedsLimit
	}
	return errdef.ErrRegistryUnavailable
}
