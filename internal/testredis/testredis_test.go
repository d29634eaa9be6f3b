package testredis

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

func TestBinaryMissingSaysHowToInstall(t *testing.T) {
	t.Setenv(EnvRedis, "/nonexistent/redis-server")
	_, err := Binary()
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "redis-server") {
		t.Errorf("Binary() = %v; want the missing path named", err)
	}
	t.Setenv(EnvRedis, "")
	t.Setenv("PATH", t.TempDir())
	if _, err := Binary(); err == nil || !strings.Contains(err.Error(), "apt-get install -y redis-server") {
		t.Errorf("Binary() without redis-server on $PATH = %v; want how to install it", err)
	}
}

func TestStartStopRestart(t *testing.T) {
	s := Start(t, Options{Password: "pw"})
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if dir, err := c.ConfigGet(ctx, "save").Result(); err != nil || dir["save"] != "" {
		t.Errorf("CONFIG GET save = %v, %v; want persistence off", dir, err)
	}
	s.Stop(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Error("the server answers after Stop")
	}
	s.Restart(t)
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("after Restart: EXISTS k = %d, %v; want an empty server", n, err)
	}
}

func TestTLS(t *testing.T) {
	s := Start(t, Options{TLS: NewTLS(t)})
	if err := s.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING over TLS: %v\n%s", err, s.Log())
	}
	plain := redis.NewClient(&redis.Options{Addr: s.Addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer plain.Close()
	if err := plain.Ping(context.Background()).Err(); err == nil {
		t.Error("the TLS server answers plain TCP")
	}
}
