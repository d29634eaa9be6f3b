// Package errdef holds the sentinel errors of ratify. Callers wrap them with
// context (fmt.Errorf("%s: %w", what, errdef.ErrNotFound)) and test them with
// errors.Is. The edge of the program (CLI exit codes, HTTP status) maps them
// to outcomes in one place.
package errdef

import "errors"

var (
	// ErrInvalidReference: an image reference or provider key is malformed.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrInvalidConfig: a configuration file or value is not valid.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrNotFound: the registry does not have the requested manifest, blob or tag.
	ErrNotFound = errors.New("not found")
	// ErrSizeExceedsLimit: content or a count (referrers, nesting depth) is larger than allowed.
	ErrSizeExceedsLimit = errors.New("size exceeds limit")
	// ErrInvalidContent: content read from a registry is malformed or is not what its digest says.
	ErrInvalidContent = errors.New("invalid content")
	// ErrUnsupported: the media type, envelope or feature is not supported.
	ErrUnsupported = errors.New("unsupported")
	// ErrUnauthorized: the registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrRegistryUnavailable: the registry could not be reached or kept failing
	// (network error, 5xx, throttling beyond the deadline).
	ErrRegistryUnavailable = errors.New("registry unavailable")
	// ErrTrustMaterialUnavailable: certificates, keys or a Sigstore trusted
	// root could not be read from where they come from (a vault or TUF
	// repository down, a refresh failing, a provider not declared), and
	// nothing read before stands in.
	ErrTrustMaterialUnavailable = errors.New("trust material unavailable")
	// ErrTimeout: the verification deadline expired before a verdict was reached.
	ErrTimeout = errors.New("verification deadline exceeded")
)
