package redis

import (
	"bytes"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testredis"
)

// TestTLS: a client trusting the CA of a Redis that speaks TLS stores and
// reads through it; one trusting another CA, or speaking plain TCP, gets
// nothing from it.
func TestTLS(t *testing.T) {
	files := testredis.NewTLS(t)
	srv := testredis.Start(t, testredis.Options{TLS: files})
	// The longest timeout: a slow handshake on a busy machine is not what
	// this tests.
	c, _ := newClient(t, srv.Addr, Options{TLS: files.Config(t), Timeout: MaxTimeout})
	value := []byte(`{"isSuccess":true}`)
	if err := c.Set(ctx, "k", value, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Get(ctx, "k"); err != nil || !bytes.Equal(got, value) {
		t.Fatalf("Get over TLS = %q, %v", got, err)
	}
	if n, err := srv.Client(t).Exists(ctx, c.EntryName("k")).Result(); err != nil || n != 1 {
		t.Errorf("the TLS server holds %d entries (%v), want the one stored", n, err)
	}

	for name, tc := range map[string]struct {
		tls  *tls.Config
		want string
	}{
		"another CA": {testredis.NewTLS(t).Config(t), "certificate signed by unknown authority"},
		"plain TCP":  {nil, ""},
	} {
		other, _ := newClient(t, srv.Addr, Options{TLS: tc.tls, Timeout: MaxTimeout})
		got, _, err := other.Get(ctx, "k")
		if !errors.Is(err, ErrUnavailable) || got != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Get = %q, %v; want ErrUnavailable %s", name, got, err, tc.want)
		}
		if err := other.Set(ctx, "k2", value, time.Minute); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: Set = %v, want ErrUnavailable", name, err)
		}
	}
}

func TestClientTLS(t *testing.T) {
	given := &tls.Config{MinVersion: tls.VersionTLS10}
	got, err := clientTLS(given, "name.redis.cache.windows.net:6380")
	if err != nil || got.MinVersion != tls.VersionTLS12 || got.ServerName != "name.redis.cache.windows.net" {
		t.Errorf("clientTLS = %+v, %v; want TLS 1.2 at least and the address's host", got, err)
	}
	if given.MinVersion != tls.VersionTLS10 || given.ServerName != "" {
		t.Error("clientTLS changed the configuration it was given")
	}
	if got, _ := clientTLS(&tls.Config{MinVersion: tls.VersionTLS13, ServerName: "redis.internal"}, "10.0.0.7:6380"); got.MinVersion != tls.VersionTLS13 || got.ServerName != "redis.internal" {
		t.Errorf("clientTLS = %+v; want the given version and name kept", got)
	}
	if _, err := New(Options{Addr: "no-port", Key: secret, TLS: &tls.Config{}}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("New with TLS to an address without a host: %v, want ErrInvalidConfig", err)
	}
}
