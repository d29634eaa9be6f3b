package cosign

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testfiles"
)

// noRootFile leaves a policy without trustedRootFile: its trusted root
// comes through TUF.
func noRootFile(p *TrustPolicy) { p.TrustedRootFile = "" }

// verifyErr verifies in 127.0.0.1:5000/demo and returns the error,
// checking that an error comes without a report.
func verifyErr(t *testing.T, v *Verifier, desc ocispec.Descriptor, f ratify.Fetcher) error {
	t.Helper()
	r, err := v.Verify(context.Background(), subjectIn("demo"), desc, f)
	if err != nil && (r.IsSuccess || r.Message != "" || r.Extensions != nil) {
		t.Errorf("error %v comes with report %+v", err, r)
	}
	return err
}

// settle waits for the fetch in flight of v's TUF source, if any.
func settle(v *Verifier) {
	for _, p := range v.policies {
		if p.tuf == nil {
			continue
		}
		p.tuf.mu.Lock()
		c := p.tuf.call
		p.tuf.mu.Unlock()
		if c != nil {
			<-c.done
		}
	}
}

func TestTUFKeyless(t *testing.T) {
	s, untrusted := newSigstore(t), newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	unusable := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(unusable, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cacheDir := range map[string]string{"cached": t.TempDir(), "memory only": filepath.Join(unusable, "cache")} {
		t.Run(name, func(t *testing.T) {
			before, _ := repo.counts()
			opts := repo.options(t, nil)
			opts.TUF.CacheDir = cacheDir
			v := newVerifier(t, opts, s.keylessPolicy(noRootFile))
			if n, _ := repo.counts(); n != before {
				t.Fatalf("building the verifier made %d requests", n-before)
			}
			_, refreshesBefore := repo.counts()
			desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
			for range 3 {
				r := mustVerify(t, v, "demo", desc, f)
				if !r.IsSuccess {
					t.Fatalf("report %+v", r)
				}
				if vr := signatures(t, r)[0].Verifications[0]; !vr.BundleVerified || vr.Identity != signerIdentity {
					t.Fatalf("verification %+v: tLogVerify should default to true for keyless", vr)
				}
			}
			if _, refreshes := repo.counts(); refreshes-refreshesBefore != 1 {
				t.Errorf("%d refreshes for three verifications, want 1", refreshes-refreshesBefore)
			}
			desc, f = untrusted.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
			if r := mustVerify(t, v, "demo", desc, f); r.IsSuccess {
				t.Fatalf("a signature of another Sigstore verified: %+v", r)
			}
		})
	}
}

// TestTUFShared: verifications that start together share one fetch.
func TestTUFShared(t *testing.T) {
	s := newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	v := newVerifier(t, repo.options(t, nil), s.keylessPolicy(noRootFile))
	desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
	arrived, release := repo.hold()
	defer release()
	const n = 16
	var started, done sync.WaitGroup
	reports := make([]ratify.Report, n)
	errs := make([]error, n)
	for i := range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			reports[i], errs[i] = v.Verify(context.Background(), subjectIn("demo"), desc, f)
		}()
	}
	// The repository holds the first request until every verification
	// has started, and so has joined the fetch or will find its result.
	started.Wait()
	<-arrived
	release()
	done.Wait()
	for i := range n {
		if errs[i] != nil || !reports[i].IsSuccess {
			t.Fatalf("verification %d: %v %+v", i, errs[i], reports[i])
		}
	}
	if _, refreshes := repo.counts(); refreshes != 1 {
		t.Errorf("%d concurrent verifications made %d fetches, want 1", n, refreshes)
	}
}

// TestTUFCallerGivesUp: a verification whose context ends while it
// waits for the fetch is "could not verify", and the fetch goes on for
// the verifications after it.
func TestTUFCallerGivesUp(t *testing.T) {
	s := newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	v := newVerifier(t, repo.options(t, nil), s.keylessPolicy(noRootFile))
	desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
	arrived, release := repo.hold()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := v.Verify(ctx, subjectIn("demo"), desc, f)
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !errors.Is(err, errdef.ErrTrustMaterialUnavailable) {
		t.Fatalf("Verify = %v, want context.Canceled and ErrTrustMaterialUnavailable", err)
	}
	release()
	if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess {
		t.Fatalf("%+v", r)
	}
	if _, refreshes := repo.counts(); refreshes != 1 {
		t.Errorf("%d fetches, want the one the first verification started", refreshes)
	}
}

// TestTUFNotNeeded: key policies without transparency log verification
// never contact the repository, even beside a policy that would.
func TestTUFNotNeeded(t *testing.T) {
	s := newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	k := newKey(t, "ecdsa-p256")
	explicit := keyPolicy(k.file) // tLogVerify false
	keyless := s.keylessPolicy(noRootFile, func(p *TrustPolicy) { p.Scopes = []string{"127.0.0.1:5000/keyless"} })
	v := newVerifier(t, repo.options(t, nil), explicit, keyless)
	desc, f := keySigned(t, k).build(t)
	if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess {
		t.Fatalf("demo: %+v", r)
	}
	if n, _ := repo.counts(); n != 0 {
		t.Errorf("a key policy with tLogVerify false made %d requests", n)
	}
	// Unset on a key policy without a trusted root file, tLogVerify is off:
	// static keys need no network.
	unset := keyPolicy(k.file)
	unset.TLogVerify = nil
	v = newVerifier(t, repo.options(t, nil), unset)
	if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess {
		t.Fatalf("unset tLogVerify: %+v", r)
	}
	if n, _ := repo.counts(); n != 0 {
		t.Errorf("a key policy without tLogVerify made %d requests", n)
	}
	// Set, the root is fetched, and a signature without a log entry fails.
	on := keyPolicy(k.file)
	on.TLogVerify = ptr(true)
	v = newVerifier(t, repo.options(t, nil), on)
	if r := mustVerify(t, v, "demo", desc, f); r.IsSuccess {
		t.Fatalf("a signature without a log entry verified with tLogVerify true: %+v", r)
	}
	if n, _ := repo.counts(); n == 0 {
		t.Error("tLogVerify true did not fetch the trusted root")
	}
}

// TestTUFUnavailable: a repository down at first use is "could not
// verify", and the first fetch that succeeds afterwards is used.
func TestTUFUnavailable(t *testing.T) {
	s := newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	clk := newClock()
	v := newVerifier(t, repo.options(t, clk.now), s.keylessPolicy(noRootFile))
	desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)

	repo.setDown(true)
	if err := verifyErr(t, v, desc, f); !errors.Is(err, errdef.ErrTrustMaterialUnavailable) ||
		!strings.Contains(err.Error(), repo.srv.URL) {
		t.Fatalf("Verify = %v, want ErrTrustMaterialUnavailable naming the repository", err)
	}
	tried, _ := repo.counts()
	if tried == 0 {
		t.Fatal("the repository was not asked")
	}
	// Within the retry interval the failure stands, without a request.
	if err := verifyErr(t, v, desc, f); !errors.Is(err, errdef.ErrTrustMaterialUnavailable) {
		t.Fatalf("Verify = %v", err)
	}
	if n, _ := repo.counts(); n != tried {
		t.Errorf("%d requests within the retry interval", n-tried)
	}

	repo.setDown(false)
	clk.advance(tufRetryInterval)
	if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess {
		t.Fatalf("after the repository came back: %+v", r)
	}
}

// TestTUFRefresh: after the refresh interval the root is fetched again in
// the background, the last good root serving meanwhile; a failed refresh
// leaves it in use, and a later one replaces it.
func TestTUFRefresh(t *testing.T) {
	s, next := newSigstore(t), newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	clk := newClock()
	v := newVerifier(t, repo.options(t, clk.now), s.keylessPolicy(noRootFile))
	desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
	nextDesc, nextF := next.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
	verifies := func(desc ocispec.Descriptor, f ratify.Fetcher, want bool) {
		t.Helper()
		if r := mustVerify(t, v, "demo", desc, f); r.IsSuccess != want {
			t.Fatalf("IsSuccess = %v, want %v: %+v", r.IsSuccess, want, r)
		}
	}
	verifies(desc, f, true)

	repo.setDown(true)
	clk.advance(DefaultTUFRefreshInterval)
	before, _ := repo.counts()
	verifies(desc, f, true) // starts the refresh
	settle(v)
	tried, _ := repo.counts()
	if tried == before {
		t.Fatal("no refresh after the interval")
	}
	verifies(desc, f, true) // the last good root, after the refresh failed
	if n, _ := repo.counts(); n != tried {
		t.Errorf("%d requests within the retry interval", n-tried)
	}

	repo.publish(t, next.rootJSON)
	repo.setDown(false)
	clk.advance(tufRetryInterval)
	verifies(desc, f, true) // starts the refresh, with the last good root
	settle(v)
	verifies(nextDesc, nextF, true)
	verifies(desc, f, false)
	// The failed refresh stopped at root metadata, before timestamp.json.
	if _, refreshes := repo.counts(); refreshes != 2 {
		t.Errorf("%d successful refreshes, want 2", refreshes)
	}
}

// TestTUFDiskCache: a verifier started within the refresh interval of the
// last fetch uses the disk cache without a request, and one started later
// while the repository is down falls back to it.
func TestTUFDiskCache(t *testing.T) {
	s := newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	clk := newClock()
	opts := repo.options(t, clk.now)
	desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
	verified := func() {
		t.Helper()
		v := newVerifier(t, opts, s.keylessPolicy(noRootFile))
		if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess {
			t.Fatalf("%+v", r)
		}
	}
	verified()
	fetched, _ := repo.counts()
	clk.advance(time.Hour)
	verified()
	if n, _ := repo.counts(); n != fetched {
		t.Errorf("a verifier started an hour after the last fetch made %d requests", n-fetched)
	}
	repo.setDown(true)
	clk.advance(DefaultTUFRefreshInterval)
	verified()
	if n, _ := repo.counts(); n == fetched {
		t.Error("a verifier started after the refresh interval did not try the repository")
	}
}

// TestTUFRootChecks: what a policy needs of a root from TUF is checked
// when it is fetched, rekorURL included.
func TestTUFRootChecks(t *testing.T) {
	s := newSigstore(t)
	noLogs, err := root.NewTrustedRoot(root.TrustedRootMediaType01, s.FulcioCertificateAuthorities(), nil, s.TimestampingAuthorities(), nil)
	if err != nil {
		t.Fatal(err)
	}
	noLogsJSON, err := noLogs.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(t, "ecdsa-p256")
	p := simpleSigningPayload(t, image.Digest)
	sig := k.sign(t, p)
	logged := &sigManifest{artifactType: ArtifactTypeSignature}
	logged.add(MediaTypeSimpleSigning, p, map[string]string{AnnotationSignature: sig,
		AnnotationBundle: s.rekorBundleAnnotation(t, s.hashedRekord(t, k, p, sig))})
	desc, f := logged.build(t)
	tlogPolicy := func(rekorURL string) TrustPolicy {
		pol := keyPolicy(k.file)
		pol.TLogVerify, pol.RekorURL = ptr(true), rekorURL
		return pol
	}
	tests := []struct {
		name     string
		root     []byte
		cfg      Config
		err      error
		contains string
	}{
		{"tlog", s.rootJSON, Config{Settings: Settings{TrustPolicies: []TrustPolicy{tlogPolicy("")}}}, nil, ""},
		{"rekorURL of the root", s.rootJSON, Config{Settings: Settings{TrustPolicies: []TrustPolicy{tlogPolicy("https://REKOR.localhost/")}}}, nil, ""},
		{"single key with rekorURL", s.rootJSON, Config{Settings: Settings{Key: k.file, RekorURL: "https://rekor.localhost"}}, nil, ""},
		{"rekorURL of another instance", s.rootJSON, Config{Settings: Settings{TrustPolicies: []TrustPolicy{tlogPolicy("https://rekor.example")}}},
			errdef.ErrInvalidConfig, "rekorURL https://rekor.example is not the base URL of a transparency log"},
		{"root without logs", noLogsJSON, Config{Settings: Settings{TrustPolicies: []TrustPolicy{tlogPolicy("")}}},
			errdef.ErrTrustMaterialUnavailable, "lists no transparency log"},
		{"keyless, root without logs", noLogsJSON, Config{Settings: Settings{TrustPolicies: []TrustPolicy{s.keylessPolicy(noRootFile)}}},
			errdef.ErrTrustMaterialUnavailable, "lists no transparency log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newTUFRepo(t, tt.root)
			v, err := New(tt.cfg, repo.options(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			if tt.err == nil {
				if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess || !signatures(t, r)[0].BundleVerified {
					t.Fatalf("report %+v", r)
				}
				return
			}
			err = verifyErr(t, v, desc, f)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Verify = %v, want %v mentioning %q", err, tt.err, tt.contains)
			}
		})
	}

	t.Run("file root without the rekorURL log", func(t *testing.T) {
		pol := tlogPolicy("https://rekor.example")
		pol.TrustedRootFile = s.rootFile
		_, err := New(Config{Settings: Settings{TrustPolicies: []TrustPolicy{pol}}}, Options{})
		if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "rekorURL") {
			t.Fatalf("New = %v", err)
		}
	})
}

// TestTUFSettings: a verifier entry's tufMirror and tufRootFile name a
// private repository, in place of the runtime's.
func TestTUFSettings(t *testing.T) {
	s := newSigstore(t)
	repo := newTUFRepo(t, s.rootJSON)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "root.json"), repo.root, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"signed":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	testfiles.Sized(t, dir, "big.json", maxTUFRootFile+1)
	testfiles.Pipe(t, dir, "pipe.json")
	// The runtime's repository is one nothing listens on.
	closed := newTUFRepo(t, s.rootJSON)
	closed.srv.Close()
	opts := Options{BaseDir: dir, TUF: TUFOptions{MirrorURL: closed.srv.URL, Root: closed.root, CacheDir: t.TempDir()}}
	cfg := func(rootFile string) Config {
		return Config{Settings: Settings{TUFMirror: repo.srv.URL, TUFRootFile: rootFile, TrustPolicies: []TrustPolicy{s.keylessPolicy(noRootFile)}}}
	}

	v, err := New(cfg("root.json"), opts)
	if err != nil {
		t.Fatal(err)
	}
	desc, f := s.keylessSigned(t, signerIdentity, signerIssuer, legacyParts{}).build(t)
	if r := mustVerify(t, v, "demo", desc, f); !r.IsSuccess {
		t.Fatalf("%+v", r)
	}
	for _, file := range []string{"bad.json", "missing.json", "big.json", "pipe.json"} {
		if _, err := New(cfg(file), opts); !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), "tufRootFile") {
			t.Errorf("tufRootFile %s: New = %v", file, err)
		}
	}
}
