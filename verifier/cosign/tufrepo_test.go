package cosign

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// tufRepo is a TUF repository (The Update Framework specification v1.0,
// consistent snapshots) made with go-tuf's metadata package and signed by
// ed25519 keys of its own, whose one target is a Sigstore
// trusted_root.json; it is served by an HTTP server on 127.0.0.1 that
// counts requests and can be taken down.
type tufRepo struct {
	srv *httptest.Server
	// root is its root.json, the trust anchor clients start from.
	root    []byte
	signers map[string]signature.Signer

	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]

	mu    sync.Mutex
	files map[string][]byte
	down  bool
	// requests counts every request, timestamps those of timestamp.json:
	// one per refresh of a client.
	requests, timestamps int
	// gate, when set, holds every request until it is closed; arrived is
	// signalled (without blocking) when a request waits on it.
	gate    chan struct{}
	arrived chan struct{}
}

// newTUFRepo makes a repository serving trustedRoot (a trusted_root.json).
func newTUFRepo(t testing.TB, trustedRoot []byte) *tufRepo {
	t.Helper()
	expires := time.Now().AddDate(1, 0, 0)
	r := &tufRepo{
		signers:   map[string]signature.Signer{},
		targets:   metadata.Targets(expires),
		snapshot:  metadata.Snapshot(expires),
		timestamp: metadata.Timestamp(expires),
		files:     map[string][]byte{},
	}
	root := metadata.Root(expires)
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, err := metadata.KeyFromPublicKey(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := root.Signed.AddKey(key, role); err != nil {
			t.Fatal(err)
		}
		if r.signers[role], err = signature.LoadSigner(priv, crypto.Hash(0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := root.Sign(r.signers[metadata.ROOT]); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.root, err = root.ToBytes(false); err != nil {
		t.Fatal(err)
	}
	r.files["/1.root.json"] = r.root
	r.targets.Signed.Version, r.snapshot.Signed.Version, r.timestamp.Signed.Version = 0, 0, 0
	r.publish(t, trustedRoot)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// publish makes trustedRoot the repository's trusted_root.json, in new
// versions of targets, snapshot and timestamp.
func (r *tufRepo) publish(t testing.TB, trustedRoot []byte) {
	t.Helper()
	tf, err := metadata.TargetFile().FromBytes(trustedRootTargetName, trustedRoot, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	r.targets.Signed.Targets[trustedRootTargetName] = tf
	r.targets.Signed.Version++
	r.snapshot.Signed.Meta["targets.json"] = metadata.MetaFile(r.targets.Signed.Version)
	r.snapshot.Signed.Version++
	r.timestamp.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.snapshot.Signed.Version)
	r.timestamp.Signed.Version++
	files := map[string][]byte{
		fmt.Sprintf("/targets/%s.%s", hex.EncodeToString(tf.Hashes["sha256"]), trustedRootTargetName): trustedRoot,
	}
	for _, m := range []struct {
		role, path string
		md         signable
	}{
		{metadata.TARGETS, fmt.Sprintf("/%d.targets.json", r.targets.Signed.Version), r.targets},
		{metadata.SNAPSHOT, fmt.Sprintf("/%d.snapshot.json", r.snapshot.Signed.Version), r.snapshot},
		{metadata.TIMESTAMP, "/timestamp.json", r.timestamp},
	} {
		m.md.ClearSignatures()
		if _, err := m.md.Sign(r.signers[m.role]); err != nil {
			t.Fatal(err)
		}
		if files[m.path], err = m.md.ToBytes(false); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, b := range files {
		r.files[name] = b
	}
}

// signable is TUF metadata of any role.
type signable interface {
	ClearSignatures()
	Sign(signature.Signer) (*metadata.Signature, error)
	ToBytes(pretty bool) ([]byte, error)
}

// trustedRootTargetName is the target sigstore-go's client asks for.
const trustedRootTargetName = "trusted_root.json"

func (r *tufRepo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	if req.URL.Path == "/timestamp.json" {
		r.timestamps++
	}
	gate, arrived := r.gate, r.arrived
	r.mu.Unlock()
	if gate != nil {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-gate
	}
	r.mu.Lock()
	b, ok := r.files[req.URL.Path]
	down := r.down
	r.mu.Unlock()
	switch {
	case down:
		http.Error(w, "down", http.StatusServiceUnavailable)
	case !ok:
		http.NotFound(w, req)
	default:
		_, _ = w.Write(b)
	}
}

// setDown takes the repository down (every request answered 503) or up.
func (r *tufRepo) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// hold makes requests wait until the returned release is called; arrived
// receives when the first one waits.
func (r *tufRepo) hold() (arrived <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gate, a := make(chan struct{}), make(chan struct{}, 1)
	r.gate, r.arrived = gate, a
	var once sync.Once
	return a, func() {
		once.Do(func() {
			r.mu.Lock()
			r.gate = nil
			r.mu.Unlock()
			close(gate)
		})
	}
}

// counts returns the requests and the refreshes (timestamp.json requests)
// served so far.
func (r *tufRepo) counts() (requests, refreshes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.timestamps
}

// options points a verifier at the repository, with a cache of its own
// and clock now.
func (r *tufRepo) options(t testing.TB, now func() time.Time) Options {
	return Options{Now: now, TUF: TUFOptions{MirrorURL: r.srv.URL, Root: r.root, CacheDir: t.TempDir()}}
}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
