package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testfiles"
	"github.com/openratify/ratify/internal/testredis"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// probe records what a Client logs and observes.
type probe struct {
	mu       sync.Mutex
	log      bytes.Buffer
	outcomes map[string]int
}

func (p *probe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *probe) observe(op, outcome string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outcomes[op+" "+outcome]++
}

func (p *probe) count(outcome string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outcomes[outcome]
}

func (p *probe) logged() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// newClient returns a client of addr with opts' other fields, its probe,
// closed when t ends.
func newClient(t *testing.T, addr string, opts Options) (*Client, *probe) {
	t.Helper()
	p := &probe{outcomes: map[string]int{}}
	opts.Addr = addr
	if opts.Key == nil {
		opts.Key = secret
	}
	opts.Logger = slog.New(slog.NewTextHandler(p, nil))
	opts.Observe = p.observe
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, p
}

var ctx = context.Background()

func TestSetGetAndTTLHeldByRedis(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	c, p := newClient(t, srv.Addr, Options{})
	value := []byte(`{"isSuccess":true}`)
	if err := c.Set(ctx, "key-a", value, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got, ttl, err := c.Get(ctx, "key-a")
	if err != nil || !bytes.Equal(got, value) || ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("Get = %q, %s, %v", got, ttl, err)
	}
	name := c.EntryName("key-a")
	if !strings.HasPrefix(name, KeyPrefix) || len(name) != len(KeyPrefix)+64 || strings.Contains(name, "key-a") {
		t.Errorf("entry name %q: want the prefix and a hex SHA-256, naming nothing", name)
	}
	pttl, err := srv.Client(t).PTTL(ctx, name).Result()
	if err != nil || pttl <= 0 || pttl > 10*time.Second {
		t.Errorf("Redis holds the entry with PTTL %s (%v), want at most the 10s it was stored for", pttl, err)
	}
	if _, _, err := c.Get(ctx, "key-b"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Get of a key never set: %v, want ErrNotFound", err)
	}
	// Redis expires the entry: a past expiry deletes it at once.
	if err := srv.Client(t).PExpireAt(ctx, name, time.Unix(1, 0)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "key-a"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Get after Redis expired the entry: %v, want ErrNotFound", err)
	}
	if p.count("get hit") != 1 || p.count("get miss") != 2 || p.count("set stored") != 1 {
		t.Errorf("outcomes %v", p.outcomes)
	}
}

func TestRejectsTamperedMovedAndForgedValues(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	rdb := srv.Client(t)
	c, p := newClient(t, srv.Addr, Options{})
	if err := c.Set(ctx, "signed-image", []byte(`{"isSuccess":true}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "unsigned-image", []byte(`{"isSuccess":false}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(ctx, c.EntryName("signed-image")).Bytes()
	if err != nil {
		t.Fatal(err)
	}

	// The passing verdict copied over the failing one's entry.
	if err := rdb.Set(ctx, c.EntryName("unsigned-image"), raw, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Get(ctx, "unsigned-image"); !errors.Is(err, errdef.ErrInvalidContent) {
		t.Errorf("a value moved to another key: %q, %v; want ErrInvalidContent", got, err)
	}

	// The value rewritten in place: false turned into true.
	forged := bytes.Replace(raw, []byte("true"), []byte("fals"), 1)
	if err := rdb.Set(ctx, c.EntryName("signed-image"), forged, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Get(ctx, "signed-image"); !errors.Is(err, errdef.ErrInvalidContent) {
		t.Errorf("a rewritten value: %q, %v; want ErrInvalidContent", got, err)
	}

	// A value sealed by someone with another key, under the right name.
	other, _ := newClient(t, srv.Addr, Options{Key: []byte("another key, as long as it must be")})
	if other.EntryName("unsigned-image") == c.EntryName("unsigned-image") {
		t.Error("two keys name entries alike")
	}
	if err := other.Set(ctx, "unsigned-image", []byte(`{"isSuccess":true}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	raw, _ = rdb.Get(ctx, other.EntryName("unsigned-image")).Bytes()
	rdb.Set(ctx, c.EntryName("unsigned-image"), raw, time.Minute)
	if got, _, err := c.Get(ctx, "unsigned-image"); !errors.Is(err, errdef.ErrInvalidContent) {
		t.Errorf("a value sealed with another key: %q, %v; want ErrInvalidContent", got, err)
	}

	// Not even a sealed value.
	rdb.Set(ctx, c.EntryName("signed-image"), `{"isSuccess":true}`, time.Minute)
	if _, _, err := c.Get(ctx, "signed-image"); !errors.Is(err, errdef.ErrInvalidContent) {
		t.Errorf("plain JSON: %v; want ErrInvalidContent", err)
	}

	if n := p.count("get rejected"); n != 4 {
		t.Errorf("%d rejections counted, want 4", n)
	}
	if n := strings.Count(p.logged(), "failed authentication"); n != 1 {
		t.Errorf("rejections logged %d times, want once:\n%s", n, p.logged())
	}
}

func TestReplayedValueExpiresWithItsSeal(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	rdb := srv.Client(t)
	c, p := newClient(t, srv.Addr, Options{})
	now := time.Now()
	c.now = func() time.Time { return now }
	if err := c.Set(ctx, "k", []byte("verdict"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	raw, _ := rdb.Get(ctx, c.EntryName("k")).Bytes()
	// Written again, without expiry, by someone who kept it.
	rdb.Set(ctx, c.EntryName("k"), raw, 0)
	if _, ttl, err := c.Get(ctx, "k"); err != nil || ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("within its life: %s %v", ttl, err)
	}
	now = now.Add(10 * time.Second)
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("a value replayed past its sealed expiry: %v, want ErrNotFound", err)
	}
	if p.count("get expired") != 1 {
		t.Errorf("outcomes %v", p.outcomes)
	}
}

func TestValueSizeBounded(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	small, p := newClient(t, srv.Addr, Options{MaxValueBytes: 1024})
	large, _ := newClient(t, srv.Addr, Options{MaxValueBytes: 4096})
	big := bytes.Repeat([]byte("x"), 2048)
	if err := small.Set(ctx, "k", big, time.Minute); !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Errorf("Set of %d bytes: %v, want ErrSizeExceedsLimit", len(big), err)
	}
	if n, _ := srv.Client(t).Exists(ctx, small.EntryName("k")).Result(); n != 0 {
		t.Error("an oversized value was stored")
	}
	if err := large.Set(ctx, "k", big, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := small.Get(ctx, "k"); !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Errorf("Get of %d bytes: %v, want ErrSizeExceedsLimit", len(big), err)
	}
	if p.count("get too_large") != 1 || p.count("set too_large") != 1 {
		t.Errorf("outcomes %v", p.outcomes)
	}
}

func TestPassword(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{Password: "s3cret"})
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	password, err := ReadPasswordFile(path)
	if err != nil || password != "s3cret" {
		t.Fatalf("ReadPasswordFile = %q, %v", password, err)
	}
	c, _ := newClient(t, srv.Addr, Options{Password: password})
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Errorf("with the password: %v", err)
	}
	anon, _ := newClient(t, srv.Addr, Options{})
	if _, _, err := anon.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("without the password: %v, want ErrUnavailable", err)
	}
}

// blackHole accepts connections on loopback and never answers: a Redis
// that hangs.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestSlowRedisTimesOutAndOpensTheCircuit(t *testing.T) {
	c, p := newClient(t, blackHole(t), Options{Timeout: 50 * time.Millisecond, BreakAfter: 2, BreakFor: time.Minute})
	now := time.Now()
	c.now = func() time.Time { return now }
	for i := range 2 {
		if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d to a Redis that never answers: %v, want ErrUnavailable", i, err)
		}
	}
	if err := c.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set with the circuit open: %v", err)
	}
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with the circuit open: %v", err)
	}
	if p.count("get error") != 2 || p.count("get skipped") != 1 || p.count("set skipped") != 1 {
		t.Errorf("outcomes %v; want two timeouts, then calls skipped", p.outcomes)
	}
	if n := strings.Count(p.logged(), "shared result cache unavailable"); n != 1 {
		t.Errorf("the circuit opening logged %d times, want once:\n%s", n, p.logged())
	}
	now = now.Add(time.Minute) // one probe goes through, and fails
	c.Get(ctx, "k")
	c.Get(ctx, "k")
	if p.count("get error") != 3 || p.count("get skipped") != 2 {
		t.Errorf("outcomes %v; want one probe after the pause", p.outcomes)
	}
}

func TestCallerGivingUpDoesNotOpenTheCircuit(t *testing.T) {
	c, p := newClient(t, blackHole(t), Options{Timeout: 50 * time.Millisecond, BreakAfter: 1, BreakFor: time.Minute})
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for range 3 {
		if _, _, err := c.Get(gone, "k"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get with a cancelled context: %v", err)
		}
	}
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
	if p.count("get error") != 4 || p.count("get skipped") != 0 {
		t.Errorf("outcomes %v; want every call made, the circuit closed until Redis itself failed", p.outcomes)
	}
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) || p.count("get skipped") != 1 {
		t.Errorf("after Redis failed: %v, outcomes %v; want the circuit open", err, p.outcomes)
	}
}

func TestRedisStoppedAndBack(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	c, p := newClient(t, srv.Addr, Options{BreakAfter: 1, BreakFor: time.Minute})
	now := time.Now()
	c.now = func() time.Time { return now }
	if err := c.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Redis stopped: %v, want ErrUnavailable", err)
	}
	srv.Restart(t)
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("circuit open: %v, want ErrUnavailable without a call", err)
	}
	now = now.Add(time.Minute)
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, errdef.ErrNotFound) { // no persistence: the entry is gone
		t.Errorf("Redis back: %v, want a miss", err)
	}
	if !strings.Contains(p.logged(), "reachable again") {
		t.Errorf("the circuit closing was not logged:\n%s", p.logged())
	}
}

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key, err := ReadKeyFile(write("key", string(secret)+"\n"))
	if err != nil || !bytes.Equal(key, secret) {
		t.Errorf("ReadKeyFile = %q, %v; want the key without its newline", key, err)
	}
	fifo := testfiles.Pipe(t, dir, "fifo") // opening it blocks until a writer comes
	for name, path := range map[string]string{
		"short":   write("short", "too short\n"),
		"missing": filepath.Join(dir, "none"),
		"huge":    write("huge", strings.Repeat("k", 5000)),
		"pipe":    fifo,
	} {
		if _, err := ReadKeyFile(path); !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Errorf("%s key file: %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := New(Options{Addr: "127.0.0.1:1", Key: []byte("short")}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("New with a short key: %v", err)
	}
	if _, err := New(Options{Addr: "127.0.0.1:1", Key: secret, Timeout: 2 * time.Second}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("New with a timeout above MaxTimeout: %v", err)
	}
}

func TestTagsApartFromVerdicts(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	rdb := srv.Client(t)
	c, p := newClient(t, srv.Addr, Options{})
	tags := c.Tags()
	name := tags.EntryName("k")
	if !strings.HasPrefix(name, TagKeyPrefix) || len(name) != len(TagKeyPrefix)+64 || name[len(TagKeyPrefix):] == c.EntryName("k")[len(KeyPrefix):] {
		t.Errorf("tag entry %s, verdict entry %s: want names of their own", name, c.EntryName("k"))
	}
	if err := c.Set(ctx, "k", []byte(`{"isSuccess":true}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := tags.Set(ctx, "k", []byte(`{"digest":"sha256:aa"}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, err := tags.Get(ctx, "k"); err != nil || string(got) != `{"digest":"sha256:aa"}` {
		t.Errorf("tags.Get = %q, %v", got, err)
	}
	if got, _, err := c.Get(ctx, "k"); err != nil || string(got) != `{"isSuccess":true}` {
		t.Errorf("Get = %q, %v", got, err)
	}

	// A verdict copied over the tag's entry is no tag resolution.
	raw, err := rdb.Get(ctx, c.EntryName("k")).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	rdb.Set(ctx, name, raw, time.Minute)
	if got, _, err := tags.Get(ctx, "k"); !errors.Is(err, errdef.ErrInvalidContent) {
		t.Errorf("a verdict read as a tag resolution: %q, %v; want ErrInvalidContent", got, err)
	}
	if p.count("tag_set stored") != 1 || p.count("tag_get hit") != 1 || p.count("tag_get rejected") != 1 || p.count("get hit") != 1 {
		t.Errorf("outcomes %v", p.outcomes)
	}

	// One server, one circuit: Redis down is seen by both views.
	srv.Stop(t)
	for range DefaultBreakAfter {
		if _, _, err := tags.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Redis stopped: %v, want ErrUnavailable", err)
		}
	}
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) || p.count("get skipped") != 1 {
		t.Errorf("after the tag view opened the circuit: %v, outcomes %v; want the call skipped", err, p.outcomes)
	}
}
