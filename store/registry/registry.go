// Package registry is a ratify.Store for OCI registries (OCI
// distribution-spec v1.1) built on oras-go's registry/remote. It resolves
// tags, lists referrers through the referrers API or, on registries without
// it, the referrers tag schema, finds cosign signatures by their tag, and
// fetches manifests and blobs, bounding and checking everything it reads.
//
// Failures to reach a registry are errors wrapping
// errdef.ErrRegistryUnavailable, never an empty answer: "could not verify" is
// not "unsigned".
package registry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/hostlist"
)

// Defaults of Options.
const (
	DefaultMaxManifestBytes = 4 << 20
	DefaultMaxBlobBytes     = 32 << 20
	DefaultMaxReferrers     = 1024
	DefaultMaxRetries       = 3
	DefaultRetryMinWait     = 200 * time.Millisecond
	DefaultRetryMaxWait     = 5 * time.Second
)

// maxRepositories bounds the repository clients a Store keeps (each
// remembers whether its registry serves the referrers API).
const maxRepositories = 1024

// Options configure a Store. The zero value talks HTTPS to registries
// anonymously with the default limits.
type Options struct {
	// PlainHTTP talks plain HTTP instead of HTTPS to every registry, loopback
	// ones included (config "useHttp"). Without it no connection is ever
	// downgraded to HTTP.
	PlainHTTP bool
	// CosignEnabled also looks up cosign signatures stored under the tag
	// "sha256-<hex>.sig" and lists them as referrers of artifact type
	// CosignArtifactType.
	CosignEnabled bool
	// Credential returns the credential for a registry host; nil means
	// anonymous access. See DockerCredential.
	Credential auth.CredentialFunc
	// AllowedRegistries, when not empty, are the only registries the store
	// talks to: hosts, host:port, or "*.domain" (one label), matched
	// exactly (internal/hostlist). A reference to another registry is an
	// error wrapping errdef.ErrUnauthorized, before any request.
	AllowedRegistries []string
	// CABundles maps a registry host ("registry.local:5000", or a host name
	// for any port) to a PEM file of CA certificates trusted for that
	// registry's TLS, in addition to the system roots.
	CABundles map[string]string

	// MaxManifestBytes bounds manifests, referrers listings and other
	// metadata responses. Zero means DefaultMaxManifestBytes.
	MaxManifestBytes int64
	// MaxBlobBytes bounds blobs. Zero means DefaultMaxBlobBytes.
	MaxBlobBytes int64
	// MaxReferrers bounds the referrers listed for one subject. Zero means
	// DefaultMaxReferrers.
	MaxReferrers int
	// ReferrersPageSize asks the registry for pages of this many referrers
	// (the "n" parameter); zero lets the registry choose.
	ReferrersPageSize int

	// MaxRetries is how many times a request answered with 408, 429 or a
	// transient 5xx, or that timed out, is retried. Zero means
	// DefaultMaxRetries; negative means never.
	MaxRetries int
	// RetryMinWait is the first backoff, doubled on each retry; zero means
	// DefaultRetryMinWait.
	RetryMinWait time.Duration
	// RetryMaxWait caps every wait between attempts. A registry asking with
	// Retry-After to wait longer is reported as throttling at once, and so
	// is every request to it while more than RetryMaxWait of its
	// Retry-After (at most a minute) is left. Zero means
	// DefaultRetryMaxWait.
	RetryMaxWait time.Duration
	// NoPacing turns pacing off. With pacing (the default), requests to a
	// registry that has answered 429 Too Many Requests wait in line and go
	// one at a time at the pace it grants, learned from its 429s, each
	// waiting at most half the time left before its deadline (one whose
	// turn comes later fails at once with an error wrapping
	// errdef.ErrRegistryUnavailable); a registry that never throttles is
	// never paced. With NoPacing, requests are only held until the
	// registry's Retry-After has passed, and then all go at once. For tests
	// and comparisons.
	NoPacing bool

	// MaxConcurrentRequests bounds the requests in flight to one registry
	// (each retry waits for a slot anew); the others wait within their
	// deadline. Zero means DefaultMaxConcurrentRequests; negative means no
	// bound.
	MaxConcurrentRequests int

	// Transport is the base HTTP transport; nil means a clone of
	// http.DefaultTransport. CABundles needs an *http.Transport.
	Transport http.RoundTripper

	// OnResponse, when set, is called after every HTTP exchange with a
	// registry (each retry included) with the registry host and the status
	// code, 0 when no response arrived. It must be fast and must not block.
	OnResponse func(host string, status int)
}

func (o *Options) setDefaults() {
	o.MaxManifestBytes = orDefault(o.MaxManifestBytes, DefaultMaxManifestBytes)
	o.MaxBlobBytes = orDefault(o.MaxBlobBytes, DefaultMaxBlobBytes)
	o.MaxReferrers = orDefault(o.MaxReferrers, DefaultMaxReferrers)
	o.RetryMinWait = orDefault(o.RetryMinWait, DefaultRetryMinWait)
	o.RetryMaxWait = orDefault(o.RetryMaxWait, DefaultRetryMaxWait)
	if o.MaxConcurrentRequests == 0 {
		o.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Store reads from OCI registries. It is safe for concurrent use; all its
// requests share one HTTP client, its connections and its auth tokens.
type Store struct {
	opts   Options
	client *auth.Client

	allowed hostlist.List // empty: any registry

	mu    sync.Mutex
	repos map[string]*remote.Repository

	inflight map[string]*flight // requests shared by concurrent callers (coalesce.go); under mu
	// joined, when set, is called once each caller is attached to a
	// shared request (for tests to know when everyone waits).
	joined func(key string)

	pace *pacer // paces requests to throttling registries (pacing.go)
}

// New returns a Store. An unreadable CA bundle is an error wrapping
// errdef.ErrInvalidConfig.
func New(opts Options) (*Store, error) {
	opts.setDefaults()
	base, err := NewTransport(opts.Transport, opts.CABundles)
	if err != nil {
		return nil, err
	}
	if opts.OnResponse != nil {
		base = &observeTransport{base: base, observe: opts.OnResponse}
	}
	pace := newPacer(opts.RetryMaxWait, opts.NoPacing)
	gate := &hostGate{
		base: &limitTransport{base: base, maxMetadata: opts.MaxManifestBytes, maxBlob: opts.MaxBlobBytes},
		pace: pace,
	}
	if opts.MaxConcurrentRequests > 0 {
		gate.limit = newHostLimit(opts.MaxConcurrentRequests)
	}
	rt := &retryTransport{base: gate, maxRetries: opts.MaxRetries, minWait: opts.RetryMinWait, maxWait: opts.RetryMaxWait}
	client := &auth.Client{
		Client:     &http.Client{Transport: rt, CheckRedirect: keepCredentialsHome},
		Credential: opts.Credential,
		Cache:      auth.NewCache(),
		ClientID:   "ratify",
	}
	client.SetUserAgent("ratify")
	allowed, err := hostlist.Parse(opts.AllowedRegistries)
	if err != nil {
		return nil, fmt.Errorf("allowed registry %w", err)
	}
	return &Store{opts: opts, client: client, allowed: allowed, repos: make(map[string]*remote.Repository), inflight: make(map[string]*flight), pace: pace}, nil
}

// maxRedirects bounds the redirects followed for one request, as net/http
// does by default.
const maxRedirects = 10

// keepCredentialsHome drops the credentials of a request redirected to
// another host or port. net/http already drops them for another host name,
// but keeps them for another port of the same host, which is another
// registry (Docker scopes credentials by host and port).
func keepCredentialsHome(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects: %w", maxRedirects, errdef.ErrRegistryUnavailable)
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		req.Header.Del("Authorization")
		req.Header.Del("Cookie")
	}
	return nil
}

// repository returns the client of ref's repository.
func (s *Store) repository(ref registry.Reference) (*remote.Repository, error) {
	if err := ref.ValidateRegistry(); err != nil {
		return nil, fmt.Errorf("registry %q: %v: %w", ref.Registry, err, errdef.ErrInvalidReference)
	}
	if err := ref.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("repository %q of %s: %v: %w", ref.Repository, ref.Registry, err, errdef.ErrInvalidReference)
	}
	if s.allowed.Len() > 0 && !s.allowed.Allowed(ref.Registry) {
		return nil, fmt.Errorf("registry %s is not on the allow-list (allowedRegistries: %s): %w", ref.Registry, s.allowed, errdef.ErrUnauthorized)
	}
	key := ref.Registry + "/" + ref.Repository
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[key]; ok {
		return r, nil
	}
	if len(s.repos) >= maxRepositories {
		clear(s.repos)
	}
	r := &remote.Repository{
		Client:               s.client,
		Reference:            registry.Reference{Registry: ref.Registry, Repository: ref.Repository},
		PlainHTTP:            s.opts.PlainHTTP,
		ReferrerListPageSize: s.opts.ReferrersPageSize,
		// One byte over the limit, so that limitTransport, not a silent
		// truncation, reports an oversized response.
		MaxMetadataBytes: s.opts.MaxManifestBytes + 1,
		// A reader never deletes anything.
		SkipReferrersGC: true,
	}
	s.repos[key] = r
	return r, nil
}

// resolve does what Resolve says, for one caller.
func (s *Store) resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	repo, err := s.repository(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if ref.Reference == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%s: no tag or digest: %w", ref, errdef.ErrInvalidReference)
	}
	desc, err := repo.Resolve(ctx, ref.Reference)
	if err != nil {
		return ocispec.Descriptor{}, classify("resolve "+ref.String(), err)
	}
	return desc, nil
}
