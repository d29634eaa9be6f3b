package registry

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/internal/netguard"
)

// NewTransport returns the transport a Store built with Options.Transport
// base and Options.CABundles bundles reaches registries through, before
// its size limits and retries: base (nil means a clone of
// http.DefaultTransport) with each CA bundle added to the TLS roots of its
// registry, and other hosts reached through base. Clients that talk to a
// registry on the store's behalf, such as Azure Container Registry's token
// exchange (auth/azure), use it to trust what the store trusts. An
// unreadable bundle, or bundles with a base that is not an
// *http.Transport, is an error wrapping errdef.ErrInvalidConfig.
func NewTransport(base http.RoundTripper, bundles map[string]string) (http.RoundTripper, error) {
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		// Keep as many idle connections to a registry as requests may be
		// in flight to it, so that bursts reuse them (HTTP/2 is attempted
		// where the registry offers it: ForceAttemptHTTP2 stays on).
		t.MaxIdleConnsPerHost = DefaultMaxConcurrentRequests
		t.DialContext = netguard.DialContext // never cloud metadata addresses
		base = t
	}
	if len(bundles) == 0 {
		return base, nil
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("registry CA bundles need an *http.Transport, not %T: %w", base, errdef.ErrInvalidConfig)
	}
	hosts := make(map[string]http.RoundTripper, len(bundles))
	for host, path := range bundles {
		pool, err := certPool(path)
		if err != nil {
			return nil, fmt.Errorf("CA bundle of registry %s: %w", host, err)
		}
		t := ht.Clone()
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		t.TLSClientConfig.RootCAs = pool
		hosts[host] = t
	}
	return &hostTransport{base: base, hosts: hosts}, nil
}

// maxCABundleSize bounds a registry's CA bundle file (a system bundle of
// every public root is a few hundred KiB).
const maxCABundleSize = 4 << 20

// certPool returns the system roots plus the certificates of a PEM file.
func certPool(path string) (*x509.CertPool, error) {
	data, err := limitedfile.Read(path, maxCABundleSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errdef.ErrInvalidConfig, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate: %w", path, errdef.ErrInvalidConfig)
	}
	return pool, nil
}

// hostTransport sends requests to the registries that have their own CA
// bundle through their own transport. Redirects to other hosts (blob
// storage) use the base transport.
type hostTransport struct {
	base  http.RoundTripper
	hosts map[string]http.RoundTripper
}

func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := t.hosts[req.URL.Host]; ok {
		return rt.RoundTrip(req)
	}
	if rt, ok := t.hosts[req.URL.Hostname()]; ok {
		return rt.RoundTrip(req)
	}
	return t.base.RoundTrip(req)
}

// limitTransport bounds response bodies: metadata endpoints (manifests,
// referrers, tags) to maxMetadata bytes, anything else (blobs, and the
// storage they redirect to) to maxBlob. A body announced or found larger is
// an error wrapping errdef.ErrSizeExceedsLimit.
type limitTransport struct {
	base                 http.RoundTripper
	maxMetadata, maxBlob int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := takePage(req); err != nil {
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || req.Method == http.MethodHead {
		return resp, err
	}
	limit := t.maxBlob
	if isMetadataPath(req.URL.Path) {
		limit = t.maxMetadata
	}
	if resp.ContentLength > limit {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: response of %d bytes, over the limit of %d bytes: %w",
			req.Method, req.URL.Redacted(), resp.ContentLength, limit, errdef.ErrSizeExceedsLimit)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: limit, limit: limit, what: req.Method + " " + req.URL.Redacted()}
	return resp, nil
}

func isMetadataPath(path string) bool {
	return strings.HasPrefix(path, "/v2/") &&
		(strings.Contains(path, "/manifests/") || strings.Contains(path, "/referrers/") || strings.HasSuffix(path, "/tags/list"))
}

// limitedBody fails, rather than truncates, a body longer than its limit.
// A connection that breaks while the body is read is an error wrapping
// errdef.ErrRegistryUnavailable, so that it is not mistaken for a body that
// ends too early (which parsers report as io.ErrUnexpectedEOF too).
type limitedBody struct {
	io.ReadCloser
	left, limit int64
	what        string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 {
			return 0, b.readError(err)
		}
		return 0, fmt.Errorf("%s: response over the limit of %d bytes: %w", b.what, b.limit, errdef.ErrSizeExceedsLimit)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, b.readError(err)
}

func (b *limitedBody) readError(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return fmt.Errorf("%s: reading the response: %w: %w", b.what, errdef.ErrRegistryUnavailable, err)
}

// observeTransport reports every exchange with a registry to observe.
type observeTransport struct {
	base    http.RoundTripper
	observe func(host string, status int)
}

func (t *observeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.observe(req.URL.Host, status)
	return resp, err
}
