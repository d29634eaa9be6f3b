package redis

import (
	"errors"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testredis"
)

// TestClaim: one replica wins a key's claim, the others see it held until
// it is released; claims of different keys are independent.
func TestClaim(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	a, pa := newClient(t, srv.Addr, Options{})
	b, pb := newClient(t, srv.Addr, Options{})

	release, won, err := a.Claim(ctx, "key-1", time.Minute)
	if err != nil || !won {
		t.Fatalf("first claim: won %v, %v", won, err)
	}
	if _, won, err := b.Claim(ctx, "key-1", time.Minute); err != nil || won {
		t.Fatalf("second replica, same key: won %v, %v; want it held", won, err)
	}
	releaseOther, won, err := b.Claim(ctx, "key-2", time.Minute)
	if err != nil || !won {
		t.Fatalf("second replica, another key: won %v, %v", won, err)
	}
	releaseOther()
	release()
	releaseB, won, err := b.Claim(ctx, "key-1", time.Minute)
	if err != nil || !won {
		t.Fatalf("after release: won %v, %v", won, err)
	}
	releaseB()
	if pa.count("claim won") != 1 || pb.count("claim held") != 1 || pb.count("claim won") != 2 {
		t.Errorf("observed %v and %v", pa.outcomes, pb.outcomes)
	}
	if keys := srv.Client(t).Keys(ctx, LeaseKeyPrefix+"*").Val(); len(keys) != 0 {
		t.Errorf("claims left behind after release: %v", keys)
	}
}

// TestClaimRenewedAndLapsing: a claim is kept while its holder works, past
// its lease, and lapses when the holder stops renewing it (it died).
func TestClaimRenewedAndLapsing(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	const lease = 3 * time.Second
	a, _ := newClient(t, srv.Addr, Options{LeaseTTL: lease})
	b, _ := newClient(t, srv.Addr, Options{LeaseTTL: lease})
	release, won, err := a.Claim(ctx, "key", time.Minute)
	if err != nil || !won {
		t.Fatalf("claim: won %v, %v", won, err)
	}
	time.Sleep(lease + lease/3) // renewed every second meanwhile
	if _, won, _ := b.Claim(ctx, "key", time.Minute); won {
		t.Fatal("a claim being renewed lapsed")
	}
	release()

	// A holder that died: its claim is there, nobody renews it.
	rdb := srv.Client(t)
	name := a.leases.entryName("dead")
	if err := rdb.Set(ctx, name, a.leases.seal("dead", []byte("token"), time.Now().Add(time.Minute)), 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if _, won, _ := b.Claim(ctx, "dead", time.Minute); won {
		t.Fatal("a live claim of a dead holder was not seen")
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if rel, won, _ := b.Claim(ctx, "dead", time.Minute); won {
			rel()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a dead holder's claim never lapsed")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClaimForgedOrReplayed: a claim written without the HMAC key, copied
// from another key's entry or past its hold cannot keep a replica from
// verifying; it is counted as rejected and left alone.
func TestClaimForgedOrReplayed(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	a, p := newClient(t, srv.Addr, Options{})
	other, _ := newClient(t, srv.Addr, Options{Key: []byte("another secret, 32 bytes or more!!")})
	rdb := srv.Client(t)
	for name, value := range map[string][]byte{
		"garbage":        []byte("held by me"),
		"another secret": other.leases.seal("key", []byte("token"), time.Now().Add(time.Minute)),
		"another key's":  a.leases.seal("key-2", []byte("token"), time.Now().Add(time.Minute)),
		"a verdict":      a.keys.seal("key", []byte(`{"isSuccess":true}`), time.Now().Add(time.Minute)),
		"past its hold":  a.leases.seal("key", []byte("token"), time.Now().Add(-time.Second)),
	} {
		if err := rdb.Set(ctx, a.leases.entryName("key"), value, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		before := p.count("claim rejected")
		release, won, err := a.Claim(ctx, "key", time.Minute)
		if err != nil || !won || p.count("claim rejected") != before+1 {
			t.Errorf("%s: won %v, %v; want the claim ignored", name, won, err)
		}
		release()
	}
}

// TestClaimRedisDown: without Redis, Claim says so, and the caller
// verifies on its own.
func TestClaimRedisDown(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	a, _ := newClient(t, srv.Addr, Options{})
	srv.Stop(t)
	release, won, err := a.Claim(ctx, "key", time.Minute)
	if !errors.Is(err, ErrUnavailable) || won || release == nil {
		t.Fatalf("Redis down: won %v, %v; want ErrUnavailable", won, err)
	}
	release()
}
