package cosign

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
)

// DefaultTUFRefreshInterval is how long a Sigstore trusted root fetched
// through TUF is used before it is fetched again.
const DefaultTUFRefreshInterval = 24 * time.Hour

const (
	// tufRetryInterval is how long after a failed fetch the next one may
	// start; meanwhile callers get the last good root, or the failure,
	// without the repository being contacted.
	tufRetryInterval = 30 * time.Second
	// tufFetchTimeout bounds one fetch (metadata and target), whichever
	// callers wait for it.
	tufFetchTimeout = time.Minute
	// maxTUFRootFile bounds a root.json, as go-tuf bounds root metadata.
	maxTUFRootFile = 512000
)

// tufRoot serves the Sigstore trusted root of one TUF repository (The
// Update Framework specification v1.0; its target trusted_root.json),
// through sigstore-go's TUF client. The root is fetched when a caller
// first needs it, by one fetch that concurrent callers share, then served
// from memory; after the refresh interval it is fetched again in the
// background while callers go on with the last good root, which also
// stands in when a refresh fails.
type tufRoot struct {
	mirror string
	// initial is the repository's root.json the client starts from.
	initial []byte
	// cacheDir keeps metadata and the target between runs; "" keeps them
	// in memory only.
	cacheDir string
	interval time.Duration
	now      func() time.Time

	mu sync.Mutex
	// trusted is the last good root, fetched at fetched.
	trusted *root.TrustedRoot
	fetched time.Time
	// failed is when the last fetch failed, with err; zero after a
	// success.
	failed time.Time
	err    error
	// call is the fetch in flight.
	call *tufCall
}

// tufCall is one fetch; done is closed once its outcome is recorded.
type tufCall struct{ done chan struct{} }

// newTUFRoot prepares the TUF source of a verifier entry: its tufMirror
// and tufRootFile, else opts.TUF, else the public Sigstore instance. It
// reads the root file and makes no network call.
func newTUFRoot(s Settings, opts Options) (*tufRoot, error) {
	t := &tufRoot{
		mirror:   opts.TUF.MirrorURL,
		initial:  opts.TUF.Root,
		cacheDir: opts.TUF.CacheDir,
		interval: opts.TUF.RefreshInterval,
		now:      opts.Now,
	}
	what := "TUF options: Root"
	if s.TUFMirror != "" {
		what = "tufRootFile"
		data, err := readTUFRoot(resolve(opts.BaseDir, s.TUFRootFile))
		if err != nil {
			return nil, err
		}
		t.mirror, t.initial = s.TUFMirror, data
	}
	if t.mirror == "" {
		t.mirror = tuf.DefaultMirror
	} else if err := validMirror("TUF options: MirrorURL", t.mirror); err != nil {
		return nil, err
	}
	if t.initial == nil {
		t.initial = tuf.DefaultRoot()
	} else if _, err := trustedmetadata.New(t.initial); err != nil {
		return nil, fmt.Errorf("%s: not a TUF root.json signed by its own threshold of root keys: %v: %w", what, err, errdef.ErrInvalidConfig)
	}
	if t.interval <= 0 {
		t.interval = DefaultTUFRefreshInterval
	}
	if t.cacheDir == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			t.cacheDir = filepath.Join(dir, "ratify", "sigstore-tuf")
		}
	}
	return t, nil
}

// readTUFRoot reads a tufRootFile. Errors wrap errdef.ErrInvalidConfig.
func readTUFRoot(path string) ([]byte, error) {
	data, err := limitedfile.Read(path, maxTUFRootFile)
	if err != nil {
		return nil, fmt.Errorf("tufRootFile: %w: %w", err, errdef.ErrInvalidConfig)
	}
	return data, nil
}

// get returns the trusted root. The first call starts a fetch and waits
// for it (or for ctx), as do the calls during it; a failure with no root
// to stand in is an error wrapping errdef.ErrTrustMaterialUnavailable,
// which callers get again, without a new fetch, for tufRetryInterval.
// Once a root was fetched, callers get it at once: the first call after
// the refresh interval (or, after a failed refresh, the retry interval)
// starts a refresh in the background, whose root serves the calls after
// it.
func (t *tufRoot) get(ctx context.Context) (*root.TrustedRoot, error) {
	t.mu.Lock()
	if t.call == nil && t.due(t.now()) {
		t.start()
	}
	c := t.call
	if c == nil || t.trusted != nil {
		defer t.mu.Unlock()
		return t.last()
	}
	t.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the Sigstore trusted root of TUF repository %s: %w: %w",
			t.mirror, errdef.ErrTrustMaterialUnavailable, ctx.Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last()
}

// last returns the last good root, or else the last failure. t.mu is
// held.
func (t *tufRoot) last() (*root.TrustedRoot, error) {
	if t.trusted != nil {
		return t.trusted, nil
	}
	return nil, t.err
}

// due reports whether a fetch should start at now. t.mu is held.
func (t *tufRoot) due(now time.Time) bool {
	if !t.failed.IsZero() {
		return now.Sub(t.failed) >= min(tufRetryInterval, t.interval)
	}
	return t.trusted == nil || now.Sub(t.fetched) >= t.interval
}

// start begins a fetch in its own goroutine, bounded by tufFetchTimeout
// rather than by a caller's context: callers that give up waiting do not
// abort the fetch others wait for. t.mu is held.
func (t *tufRoot) start() {
	c := &tufCall{done: make(chan struct{})}
	t.call = c
	cold := t.trusted == nil
	deadline := time.Now().Add(tufFetchTimeout)
	go func() {
		tr, at, err := t.fetch(deadline, cold)
		t.mu.Lock()
		if err != nil {
			t.err, t.failed = err, t.now()
		} else {
			t.trusted, t.fetched, t.err, t.failed = tr, at, nil, time.Time{}
		}
		t.call = nil
		t.mu.Unlock()
		close(c.done)
	}()
}

// fetch gets the trusted root from the repository and says when it was
// fetched from it. With no root in memory (cold) and a disk cache, it
// serves the cached root without contacting the repository when the cache
// was refreshed within the interval, and falls back to it when the
// repository cannot be reached; go-tuf verifies cached metadata, and its
// expiry, as it verifies downloaded metadata.
func (t *tufRoot) fetch(deadline time.Time, cold bool) (*root.TrustedRoot, time.Time, error) {
	opts := tuf.Options{
		Root:              t.initial,
		RepositoryBaseURL: t.mirror,
		CachePath:         t.cacheDir,
		Fetcher:           newTUFFetcher(deadline),
		DisableLocalCache: !writable(t.cacheDir),
	}
	last, cached := t.cacheTime()
	cached = cached && cold && !opts.DisableLocalCache
	opts.ForceCache = cached && t.now().Sub(last) < t.interval
	tr, err := trustedRootFrom(opts)
	if err != nil && cached && !opts.ForceCache {
		// ForceCache reads the cache, and goes to the repository again
		// only when the cache does not verify.
		opts.ForceCache = true
		if cachedRoot, cacheErr := trustedRootFrom(opts); cacheErr == nil {
			tr, err = cachedRoot, nil
		}
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("fetching the Sigstore trusted root from TUF repository %s: %v: %w",
			t.mirror, err, errdef.ErrTrustMaterialUnavailable)
	}
	at := t.now()
	if opts.ForceCache {
		// The cache's time: updated if the client had to refresh it.
		if l, ok := t.cacheTime(); ok {
			at = l
		}
	}
	return tr, at, nil
}

// trustedRootFrom runs sigstore-go's TUF client with opts (which it may
// change, so it gets a copy) and reads the trusted_root.json target.
func trustedRootFrom(opts tuf.Options) (*root.TrustedRoot, error) {
	c, err := tuf.New(&opts)
	if err != nil {
		return nil, err
	}
	return root.GetTrustedRoot(c)
}

// cacheTime is when sigstore-go's TUF client last refreshed the cache of
// t's mirror from the repository, as it records it next to the cache.
func (t *tufRoot) cacheTime() (time.Time, bool) {
	if t.cacheDir == "" {
		return time.Time{}, false
	}
	c, err := tuf.LoadConfig(filepath.Join(t.cacheDir, tuf.URLToPath(t.mirror)+".json"))
	if err != nil || c.LastTimestamp.IsZero() {
		return time.Time{}, false
	}
	return c.LastTimestamp, true
}

// writable reports whether dir can be created and written, so that the
// TUF client can cache there.
func writable(dir string) bool {
	if dir == "" || os.MkdirAll(dir, 0o700) != nil {
		return false
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	f.Close()
	return os.Remove(f.Name()) == nil
}

// newTUFFetcher is go-tuf's HTTP fetcher (which bounds every download by the
// length the metadata allows), through http.DefaultTransport (and so the
// proxy of the environment), whose requests all end by deadline.
func newTUFFetcher(deadline time.Time) fetcher.Fetcher {
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(deadlineClient(deadline))
	f.SetHTTPUserAgent("ratify")
	return f
}

// deadlineClient sends requests that must be done, body read, by a
// deadline (go-tuf's fetcher takes no context).
type deadlineClient time.Time

func (d deadlineClient) Do(req *http.Request) (*http.Response, error) {
	left := time.Until(time.Time(d))
	if left <= 0 {
		return nil, fmt.Errorf("fetch took longer than %s", tufFetchTimeout)
	}
	return (&http.Client{Timeout: left}).Do(req)
}
