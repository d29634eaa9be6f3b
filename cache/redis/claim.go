package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// LeaseKeyPrefix starts the name of every claim on a verification in
// progress (Client.Claim).
const LeaseKeyPrefix = "ratify:v1:lease:"

// leaseEntries are claims: sealed like verdicts, under keys of their own,
// so that a claim never opens as a verdict nor the other way round.
var leaseEntries = entryKind{label: "ratify verification lease", prefix: LeaseKeyPrefix, domain: "ratify verification lease v1\x00"}

// Compare-and-renew and compare-and-delete: a claim is renewed or dropped
// only by the replica whose value it holds.
var (
	renewScript   = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end return 0`)
	releaseScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)
)

// Claim claims the verification of cacheKey for this replica, for at most
// hold. won reports that no other replica holds a claim on it: the caller
// verifies and must call release when done, which drops the claim (until
// then it is renewed). Otherwise another replica is verifying it, and the
// caller had better wait for that replica's verdict under cacheKey than
// ask the registry again.
//
// Claims are sealed as verdicts are, bound to cacheKey and to the end of
// hold: a claim written without the HMAC key, copied from another entry or
// replayed after its hold is ignored (the caller wins without taking it),
// so that nobody without the key can keep the replicas from verifying.
// Redis down, slow or skipped is an error wrapping ErrUnavailable: the
// caller verifies on its own. release is never nil.
func (c *Client) Claim(ctx context.Context, cacheKey string, hold time.Duration) (release func(), won bool, err error) {
	noop := func() {}
	if !c.circuit.allow() {
		c.observe("claim", "skipped")
		return noop, false, fmt.Errorf("circuit open: %w", ErrUnavailable)
	}
	hold = max(hold, time.Millisecond)
	name := c.leases.entryName(cacheKey)
	value := c.leases.seal(cacheKey, []byte(rand.Text()), c.now().Add(hold))
	callCtx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	// SET NX, then GET of the holder's claim: SET's GET option would save
	// a round trip, but only Redis 7 takes it with NX, and managed Redis
	// services still run 6.
	set, err := c.rdb.SetNX(callCtx, name, value, min(hold, c.opts.LeaseTTL)).Result()
	if err != nil {
		return noop, false, c.failed(ctx, "claim", err)
	}
	if set {
		c.succeeded()
		c.observe("claim", "won")
		return c.keepClaim(name, value, hold), true, nil
	}
	held, err := c.rdb.Get(callCtx, name).Result()
	switch {
	case errors.Is(err, redis.Nil): // let go of since: ask again on the next look
		c.succeeded()
		c.observe("claim", "held")
		return noop, false, nil
	case err != nil:
		return noop, false, c.failed(ctx, "claim", err)
	}
	c.succeeded()
	if _, notAfter, err := c.leases.open(cacheKey, []byte(held)); err != nil || !c.now().Before(notAfter) {
		c.observe("claim", "rejected")
		return noop, true, nil
	}
	c.observe("claim", "held")
	return noop, false, nil
}

// keepClaim renews the claim named name, holding value, every
// Options.LeaseTTL/3
// for at most hold, and returns what drops it.
func (c *Client) keepClaim(name string, value []byte, hold time.Duration) func() {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(c.opts.LeaseTTL / 3)
		defer tick.Stop()
		until := time.NewTimer(hold)
		defer until.Stop()
		for {
			select {
			case <-done:
				return
			case <-until.C:
				return // the claim lapses on its own
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
				_ = renewScript.Run(ctx, c.rdb, []string{name}, value, c.opts.LeaseTTL.Milliseconds()).Err()
				cancel()
			}
		}
	}()
	return func() {
		close(done)
		<-ended
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		defer cancel()
		_ = releaseScript.Run(ctx, c.rdb, []string{name}, value).Err()
	}
}
