package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testredis"
	"github.com/openratify/ratify/internal/testregistry"
)

// replica builds another Server on f's configuration with opts, as one
// more replica of the provider, logging into f's logs.
func (f *fixture) replica(t *testing.T, opts Options) *Server {
	t.Helper()
	opts.ConfigPath = f.config
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// verifyOne posts key to srv and returns the item's value (failing t on an
// item error) and the raw value.
func verifyOne(t *testing.T, srv *Server, key string) (verifyResult, json.RawMessage, string) {
	t.Helper()
	_, resp := post(t, srv.Handler(), verifyPath, requestBody(key), nil)
	if len(resp.Response.Items) != 1 {
		t.Fatalf("response %+v", resp)
	}
	it := resp.Response.Items[0]
	if it.Error != "" {
		return verifyResult{}, nil, it.Error
	}
	return decodeResult(t, it.Value), it.Value, ""
}

func writeKeyFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hmac-key")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const hmacKey = "an HMAC key that is long enough for the cache\n"

func TestResultKeysFollowConfigurationContent(t *testing.T) {
	f := newFixture(t, setup{server: Options{CacheTTL: time.Hour}})
	if res, _, _ := verifyOne(t, f.srv, f.signed); !res.IsSuccess {
		t.Fatal("signed image failed")
	}
	first := f.srv.engine.current.Load()

	// Another configuration (a stricter policy) is a new key: verified again.
	f.writeConfig(t, func(cfg map[string]any) {
		cfg["policy"].(map[string]any)["plugin"].(map[string]any)["artifactVerificationPolicies"] =
			map[string]any{"application/vnd.cncf.notary.signature": "all"}
	})
	if changed, err := f.srv.engine.load(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	f.reg.Reset()
	verifyOne(t, f.srv, f.signed)
	if f.reg.Total() == 0 {
		t.Error("a result made under another configuration was served")
	}

	// The first configuration again, in a new generation: the same content
	// names the same results, as it does on every replica.
	f.writeConfig(t, nil)
	if changed, err := f.srv.engine.load(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if g := f.srv.engine.current.Load(); g.id == first.id || g.cluster.cfg.Digest != first.cluster.cfg.Digest {
		t.Fatalf("generation %d digest %s; want a new generation of the first configuration", g.id, g.cluster.cfg.Digest)
	}
	f.reg.Reset()
	if res, _, _ := verifyOne(t, f.srv, f.signed); !res.IsSuccess || f.reg.Total() != 0 {
		t.Errorf("success %v after %d registry requests; want the result of the same configuration from the cache", res.IsSuccess, f.reg.Total())
	}
}

func TestFailingVerdictsCachedApart(t *testing.T) {
	f := newFixture(t, setup{})
	if res, _, _ := verifyOne(t, f.srv, f.unsigned); res.IsSuccess {
		t.Fatal("unsigned image passed")
	}
	f.reg.Reset()
	if res, _, _ := verifyOne(t, f.srv, f.unsigned); res.IsSuccess || f.reg.Total() != 0 {
		t.Errorf("a failing verdict within its 2s TTL: success %v, %d registry requests", res.IsSuccess, f.reg.Total())
	}

	off := f.replica(t, Options{NegativeCacheTTL: -1})
	verifyOne(t, off, f.signed)
	verifyOne(t, off, f.unsigned)
	f.reg.Reset()
	verifyOne(t, off, f.signed)
	if f.reg.Total() != 0 {
		t.Errorf("a passing verdict was not kept: %v", f.reg.Counts())
	}
	if res, _, _ := verifyOne(t, off, f.unsigned); res.IsSuccess || f.reg.Total() == 0 {
		t.Errorf("with NegativeCacheTTL off a failing verdict was kept (success %v, %d requests)", res.IsSuccess, f.reg.Total())
	}
}

func TestStaleVerdictDuringOutage(t *testing.T) {
	// Verdicts are fresh for a microsecond: every later request finds them
	// expired and verifies again.
	f := newFixture(t, setup{server: Options{CacheTTL: time.Microsecond, CacheStaleTTL: 10 * time.Minute}})
	verifyOne(t, f.srv, f.signed)
	verifyOne(t, f.srv, f.unsigned)
	f.reg.Inject(outage())
	res, raw, itemErr := verifyOne(t, f.srv, f.signed)
	if itemErr != "" || !res.IsSuccess {
		t.Fatalf("during the outage: %s %s; want the stale passing verdict", raw, itemErr)
	}
	var marked struct {
		Stale *staleNote `json:"stale"`
	}
	if err := json.Unmarshal(raw, &marked); err != nil || marked.Stale == nil || marked.Stale.ExpiredAt.IsZero() ||
		!strings.Contains(marked.Stale.Reason, errdef.ErrRegistryUnavailable.Error()) {
		t.Errorf("the stale verdict is not marked: %s", raw)
	}
	if !strings.Contains(f.logs.String(), "serving a stale verdict") {
		t.Error("the stale verdict was not logged")
	}
	if _, _, itemErr := verifyOne(t, f.srv, f.unsigned); itemErr == "" {
		t.Error("an image that never passed got an answer during the outage")
	}
	if body := httptestGet(f.srv.metrics.handler(), "/metrics").Body.String(); !strings.Contains(body, "ratify_result_cache_stale_count 1") {
		t.Errorf("metrics lack the stale count:\n%s", body)
	}

	f.reg.ClearFaults()
	if _, raw, _ := verifyOne(t, f.srv, f.signed); strings.Contains(string(raw), `"stale"`) {
		t.Errorf("after the outage: %s", raw)
	}
}

// startRedis starts a redis-server with opts and returns it with the
// RedisOptions of a server sharing results through it.
func startRedis(t *testing.T, opts testredis.Options) (*testredis.Server, RedisOptions) {
	t.Helper()
	rds := testredis.Start(t, opts)
	return rds, RedisOptions{Addr: rds.Addr, HMACKeyFile: writeKeyFile(t, hmacKey)}
}

// sharedVerdict has a fixture's server verify the signed image and a second
// server, sharing Redis through shared, answer it from there without asking
// the registry; it returns the fixture and the second server.
func sharedVerdict(t *testing.T, shared RedisOptions) (*fixture, *Server) {
	t.Helper()
	f := newFixture(t, setup{server: Options{Redis: shared}})
	t.Cleanup(f.srv.Close)
	if res, _, _ := verifyOne(t, f.srv, f.signed); !res.IsSuccess {
		t.Fatal("signed image failed")
	}
	second := f.replica(t, Options{Redis: shared})
	f.reg.Reset()
	if res, _, _ := verifyOne(t, second, f.signed); !res.IsSuccess || f.reg.Total() != 0 {
		t.Errorf("second server: success %v after %d registry requests; want the first one's verdict from Redis", res.IsSuccess, f.reg.Total())
	}
	return f, second
}

func TestRedisSharedBetweenServers(t *testing.T) {
	rds, shared := startRedis(t, testredis.Options{})
	f, second := sharedVerdict(t, shared)
	if body := httptestGet(second.metrics.handler(), "/metrics").Body.String(); !strings.Contains(body, `ratify_shared_cache_count{op="get",outcome="hit"} 1`) ||
		!strings.Contains(body, `ratify_result_cache_count{hit="true"} 1`) {
		t.Errorf("second server's metrics lack the shared hit:\n%s", body)
	}

	// Redis stopped mid-run: what a server keeps in memory is answered
	// from there; anything else is verified, never allowed.
	rds.Stop(t)
	f.reg.Reset()
	if res, _, itemErr := verifyOne(t, second, f.signed); !res.IsSuccess || itemErr != "" || f.reg.Total() != 0 {
		t.Errorf("with Redis down, a verdict in memory: %v %q, %d registry requests", res.IsSuccess, itemErr, f.reg.Total())
	}
	third := f.replica(t, Options{Redis: shared})
	for _, tc := range []struct {
		key  string
		pass bool
	}{{f.signed, true}, {f.unsigned, false}} {
		f.reg.Reset()
		res, _, itemErr := verifyOne(t, third, tc.key)
		if itemErr != "" || res.IsSuccess != tc.pass || f.reg.Total() == 0 {
			t.Errorf("with Redis down, a new server on %s: success %v (want %v), %q, %d registry requests; want it verified",
				tc.key, res.IsSuccess, tc.pass, itemErr, f.reg.Total())
		}
	}
}

// TestRedisTLSSharedBetweenServers: servers trusting the CA of a Redis that
// speaks TLS share verdicts through it.
func TestRedisTLSSharedBetweenServers(t *testing.T) {
	files := testredis.NewTLS(t)
	_, shared := startRedis(t, testredis.Options{TLS: files})
	shared.CAFile = files.CAFile
	// The longest timeout: a slow handshake on a busy machine is not what
	// this tests.
	shared.Timeout = time.Second
	sharedVerdict(t, shared)
}

func TestCacheOptionsChecked(t *testing.T) {
	f := newFixture(t, setup{})
	key := writeKeyFile(t, hmacKey)
	for name, opts := range map[string]Options{
		"stale window above 10m": {CacheStaleTTL: 11 * time.Minute},
		"Redis without a key":    {Redis: RedisOptions{Addr: "127.0.0.1:1"}},
		"Redis, short key":       {Redis: RedisOptions{Addr: "127.0.0.1:1", HMACKeyFile: writeKeyFile(t, "short\n")}},
		"Redis, no key file":     {Redis: RedisOptions{Addr: "127.0.0.1:1", HMACKeyFile: filepath.Join(t.TempDir(), "none")}},
		"Redis, slow timeout":    {Redis: RedisOptions{Addr: "127.0.0.1:1", HMACKeyFile: key, Timeout: 5 * time.Second}},
		"Redis, caching off":     {CacheTTL: -1, NegativeCacheTTL: -1, Redis: RedisOptions{Addr: "127.0.0.1:1", HMACKeyFile: key}},
		"Redis, CA a directory":  {Redis: RedisOptions{Addr: "127.0.0.1:1", HMACKeyFile: key, TLS: true, CAFile: t.TempDir()}},
		"Redis, CA not PEM":      {Redis: RedisOptions{Addr: "127.0.0.1:1", HMACKeyFile: key, CAFile: writeKeyFile(t, "not a certificate\n")}},
	} {
		opts.ConfigPath = f.config
		opts.Logger = slog.New(slog.DiscardHandler)
		if _, err := New(opts); !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		} else if opts.Redis.CAFile != "" && !strings.Contains(err.Error(), "--cache-redis-ca-file") {
			t.Errorf("%s: %q does not name the flag", name, err)
		}
	}
	if cache.MaxStaleTTL != 10*time.Minute {
		t.Errorf("MaxStaleTTL = %s, the flag's help says 10m", cache.MaxStaleTTL)
	}
}

// TestReplicasVerifyEachImageOnce: two replicas asked for the same image at
// once, through Redis, verify it once: the second waits for the first's
// claim and answers with its verdict, and the registry lists the image's
// referrers once.
func TestReplicasVerifyEachImageOnce(t *testing.T) {
	_, shared := startRedis(t, testredis.Options{})
	release := make(chan struct{})
	f := newFixture(t, setup{server: Options{Redis: shared}, registry: hangReferrers(release),
		config: func(cfg map[string]any) {
			// Generous: the first verification is held until the second waits.
			cfg["executor"] = map[string]any{"verificationRequestTimeout": 60000}
		}})
	t.Cleanup(f.srv.Close)
	second := f.replica(t, Options{Redis: shared})

	answers := make(chan decodedResponse, 2)
	ask := func(srv *Server) {
		rec := newRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, verifyPath, bytes.NewReader(requestBody(f.signed))))
		var resp decodedResponse
		if err := decodeJSON(rec.Body, &resp); err != nil {
			t.Error(err)
		}
		answers <- resp
	}
	go ask(f.srv)
	waitFor(t, func() bool { return f.reg.Count(http.MethodGet, testregistry.KindReferrers) == 1 })
	go ask(second)
	waitFor(t, func() bool {
		return strings.Contains(httptestGet(second.metrics.handler(), "/metrics").Body.String(), `ratify_shared_cache_count{op="claim",outcome="held"}`)
	})
	close(release)
	for range 2 {
		resp := <-answers
		if len(resp.Response.Items) != 1 || resp.Response.Items[0].Error != "" || !decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
			t.Fatalf("answer %+v; want the signed image passing", resp)
		}
	}
	if n := f.reg.Count(http.MethodGet, testregistry.KindReferrers); n != 1 {
		t.Errorf("%d referrers listings for two replicas' verification of one image, want 1", n)
	}
}

// TestReplicasShareSignatures: a replica verifying an image another one
// verified before (its verdict expired) lists the referrers itself but
// reads the signature manifest and envelope the other fetched from Redis.
func TestReplicasShareSignatures(t *testing.T) {
	_, shared := startRedis(t, testredis.Options{})
	f := newFixture(t, setup{server: Options{Redis: shared, CacheTTL: time.Microsecond}})
	t.Cleanup(f.srv.Close)
	if res, _, itemErr := verifyOne(t, f.srv, f.signed); !res.IsSuccess {
		t.Fatalf("first replica: %q", itemErr)
	}
	second := f.replica(t, Options{Redis: shared, CacheTTL: time.Microsecond})
	f.reg.Reset()
	if res, _, itemErr := verifyOne(t, second, f.signed); !res.IsSuccess {
		t.Fatalf("second replica: %q", itemErr)
	}
	if f.reg.Count(http.MethodGet, testregistry.KindReferrers) != 1 || f.reg.Count(http.MethodGet, testregistry.KindManifest) != 0 ||
		f.reg.Count(http.MethodGet, testregistry.KindBlob) != 0 {
		t.Errorf("second replica's registry requests %v; want the referrers listing alone", f.reg.Counts())
	}
}

// TestRedisPasswordRotated: when Redis's password changes (a managed
// Redis's access key regenerated) and the password file with it, the next
// connection uses the new one, without a restart.
func TestRedisPasswordRotated(t *testing.T) {
	rds, shared := startRedis(t, testredis.Options{Password: "first password"})
	passwordFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte("first password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Failing verdicts are kept a millisecond: each request verifies and
	// writes to Redis again.
	f := newFixture(t, setup{server: Options{NegativeCacheTTL: time.Millisecond,
		Redis: RedisOptions{Addr: shared.Addr, HMACKeyFile: shared.HMACKeyFile, PasswordFile: passwordFile}}})
	t.Cleanup(f.srv.Close)
	stored := func() int {
		body := httptestGet(f.srv.metrics.handler(), "/metrics").Body.String()
		const metric = `ratify_shared_cache_count{op="set",outcome="stored"} `
		_, v, _ := strings.Cut(body, metric)
		n, _ := strconv.Atoi(strings.Fields(v + " 0")[0])
		return n
	}
	verifyOne(t, f.srv, f.unsigned)
	if stored() != 1 {
		t.Fatal("the verdict was not stored in Redis")
	}

	// The password changes, the file follows, and Redis drops the
	// connections made with the old one.
	admin := rds.Client(t)
	if err := admin.ConfigSet(context.Background(), "requirepass", "second password").Err(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwordFile, []byte("second password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(context.Background(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	// A call or two may still meet a dead connection; then one is dialled
	// anew, with the password the file holds now.
	// (Failures may open the client's circuit for 10s: the deadline
	// outlasts it.)
	for deadline := time.Now().Add(30 * time.Second); stored() < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("no verdict stored with the new password; Redis log:\n%s", rds.Log())
		}
		time.Sleep(20 * time.Millisecond)
		verifyOne(t, f.srv, f.unsigned)
	}
}
