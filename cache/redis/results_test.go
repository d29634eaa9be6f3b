package redis

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/internal/testredis"
)

// replica is a result cache in memory over the shared tier on addr, as
// one replica of the provider has.
func replica(t *testing.T, addr string) *cache.Results {
	t.Helper()
	c, _ := newClient(t, addr, Options{})
	r, err := cache.NewResults(cache.ResultsOptions{
		TTL: time.Minute, Bytes: 1 << 20, NegativeTTL: 2 * time.Second, NegativeBytes: 1 << 20, Shared: c,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplicasShareVerdictsAndOutliveRedis(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	a, b := replica(t, srv.Addr), replica(t, srv.Addr)
	var verifications atomic.Int32
	verify := func(ok bool) func(context.Context) (ratify.Result, error) {
		return func(context.Context) (ratify.Result, error) {
			verifications.Add(1)
			return ratify.Result{Version: ratify.ResultVersion, IsSuccess: ok}, nil
		}
	}
	signed := cache.ResultKey("config", "", "r/app@sha256:aa", nil)
	unsigned := cache.ResultKey("config", "", "r/app@sha256:bb", nil)
	if ans, err := a.Do(ctx, signed, time.Minute, verify(true)); err != nil || ans.Source != cache.SourceVerified {
		t.Fatalf("replica a: %+v %v", ans, err)
	}
	if ans, err := b.Do(ctx, signed, time.Minute, verify(false)); err != nil || ans.Source != cache.SourceShared || !ans.Result.IsSuccess {
		t.Fatalf("replica b: %+v %v; want a's verdict through Redis", ans, err)
	}
	if n := verifications.Load(); n != 1 {
		t.Fatalf("%d verifications, want 1", n)
	}

	srv.Stop(t)
	if ans, err := a.Do(ctx, signed, time.Minute, verify(false)); err != nil || ans.Source != cache.SourceMemory || !ans.Result.IsSuccess {
		t.Errorf("replica a with Redis stopped: %+v %v; want its verdict from memory", ans, err)
	}
	if ans, err := b.Do(ctx, unsigned, time.Minute, verify(false)); err != nil || ans.Source != cache.SourceVerified || ans.Result.IsSuccess {
		t.Errorf("replica b, a new key with Redis stopped: %+v %v; want it verified (and failing)", ans, err)
	}
	c := replica(t, srv.Addr) // a replica started during the outage
	if ans, err := c.Do(ctx, signed, time.Minute, verify(false)); err != nil || ans.Source != cache.SourceVerified || ans.Result.IsSuccess {
		t.Errorf("replica c with Redis stopped: %+v %v; want the subject verified again, not allowed", ans, err)
	}
	if n := verifications.Load(); n != 3 {
		t.Errorf("%d verifications, want 3", n)
	}
}
