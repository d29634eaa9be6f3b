package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/cache"
	"github.com/openratify/ratify/cache/redis"
	"github.com/openratify/ratify/internal/testredis"
)

// mutateOne posts image to srv's mutate endpoint and returns the item's
// value (the image pinned to its digest) or error.
func mutateOne(t *testing.T, srv *Server, image string) (pinned, itemErr string) {
	t.Helper()
	_, resp := post(t, srv.Handler(), mutatePath, requestBody(image), nil)
	if len(resp.Response.Items) != 1 {
		t.Fatalf("response %+v", resp)
	}
	it := resp.Response.Items[0]
	if it.Error != "" {
		return "", it.Error
	}
	if err := json.Unmarshal(it.Value, &pinned); err != nil {
		t.Fatalf("mutate value %s: %v", it.Value, err)
	}
	return pinned, ""
}

// tagEntry is the Redis entry name of the cluster scope's resolution of
// image's tag on srv.
func tagEntry(t *testing.T, srv *Server, image string) string {
	t.Helper()
	sc, _ := srv.engine.current.Load().scopeFor("")
	ref, _, err := sc.refs.parse(image)
	if err != nil {
		t.Fatal(err)
	}
	return srv.shared.Tags().EntryName(cache.TagKey(sc.cfg.Digest, "", ref.String()))
}

func TestReplicasShareTagResolutions(t *testing.T) {
	_, shared := startRedis(t, testredis.Options{})
	f := newFixture(t, setup{server: Options{Redis: shared}})
	t.Cleanup(f.srv.Close)
	tag := f.reg.Host() + "/app/signed:v1"
	second := f.replica(t, Options{Redis: shared})

	f.reg.Reset()
	for i, srv := range []*Server{f.srv, second} {
		if pinned, itemErr := mutateOne(t, srv, tag); pinned != f.signed {
			t.Fatalf("server %d pinned %s to %q (%s), want %s", i+1, tag, pinned, itemErr, f.signed)
		}
	}
	if n := f.reg.Total(); n != 1 {
		t.Errorf("two servers sharing Redis made %d registry requests (%v) to resolve one tag, want 1", n, f.reg.Counts())
	}
	if body := httptestGet(second.metrics.handler(), "/metrics").Body.String(); !strings.Contains(body, `ratify_shared_cache_count{op="tag_get",outcome="hit"} 1`) {
		t.Errorf("second server's metrics lack the shared tag hit:\n%s", body)
	}

	// Verifying by tag: the first server verifies; a third, new, takes the
	// tag's digest and the verdict from Redis.
	if res, _, itemErr := verifyOne(t, f.srv, tag); !res.IsSuccess {
		t.Fatalf("first server, %s: %+v %s", tag, res, itemErr)
	}
	third := f.replica(t, Options{Redis: shared})
	f.reg.Reset()
	if res, _, itemErr := verifyOne(t, third, tag); !res.IsSuccess || f.reg.Total() != 0 {
		t.Errorf("third server, %s: success %v (%s) after %d registry requests (%v); want all from Redis",
			tag, res.IsSuccess, itemErr, f.reg.Total(), f.reg.Counts())
	}
}

// TestForgedTagResolutionRejected plants tag -> digest mappings in Redis
// as someone who can write to it but lacks the HMAC key would: the signed
// image's tag pointed at the unsigned image. No server follows them.
func TestForgedTagResolutionRejected(t *testing.T) {
	rds, shared := startRedis(t, testredis.Options{})
	rdb := rds.Client(t)
	f := newFixture(t, setup{server: Options{Redis: shared}})
	t.Cleanup(f.srv.Close)
	tag := f.reg.Host() + "/app/signed:v1"
	if pinned, itemErr := mutateOne(t, f.srv, tag); pinned != f.signed {
		t.Fatalf("pinned %q (%s), want %s", pinned, itemErr, f.signed)
	}
	entry := tagEntry(t, f.srv, tag)
	raw, err := rdb.Get(t.Context(), entry).Bytes()
	if err != nil {
		t.Fatalf("the tag's resolution is not in Redis under %s: %v", entry, err)
	}
	signedDigest := f.signedAt.Digest.String()
	unsignedDigest := f.unsigned[strings.LastIndex(f.unsigned, "@")+1:]

	// A writer with another key seals its own mapping under the name.
	other, err := redis.New(redis.Options{Addr: rds.Addr, Key: []byte("another key, as long as it must be, or longer")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	sc, _ := f.srv.engine.current.Load().scopeFor("")
	ref, _, _ := sc.refs.parse(tag)
	forgedKey := cache.TagKey(sc.cfg.Digest, "", ref.String())
	if err := other.Tags().Set(t.Context(), forgedKey, []byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+unsignedDigest+`","size":1}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	otherSealed, err := rdb.Get(t.Context(), other.Tags().EntryName(forgedKey)).Bytes()
	if err != nil {
		t.Fatal(err)
	}

	// A verdict, sealed with the right key, moved to the tag's entry.
	if res, _, itemErr := verifyOne(t, f.srv, f.unsigned); res.IsSuccess || itemErr != "" {
		t.Fatalf("unsigned image: %v %s", res.IsSuccess, itemErr)
	}
	verdict, err := rdb.Get(t.Context(), f.srv.shared.EntryName(cache.ResultKey(sc.cfg.Digest, "", f.unsigned, nil))).Bytes()
	if err != nil {
		t.Fatal(err)
	}

	for name, planted := range map[string][]byte{
		"digest rewritten in place":  []byte(strings.Replace(string(raw), signedDigest, unsignedDigest, 1)),
		"sealed with another key":    otherSealed,
		"a verdict moved to the tag": verdict,
	} {
		if err := rdb.Set(t.Context(), entry, planted, 0).Err(); err != nil {
			t.Fatal(err)
		}
		srv := f.replica(t, Options{Redis: shared})
		f.reg.Reset()
		if pinned, itemErr := mutateOne(t, srv, tag); pinned != f.signed {
			t.Errorf("%s: pinned %q (%s), want %s from the registry", name, pinned, itemErr, f.signed)
		}
		if f.reg.Total() == 0 {
			t.Errorf("%s: the registry was not asked", name)
		}
		if body := httptestGet(srv.metrics.handler(), "/metrics").Body.String(); !strings.Contains(body, `ratify_shared_cache_count{op="tag_get",outcome="rejected"} 1`) {
			t.Errorf("%s: the rejection is not counted:\n%s", name, body)
		}
	}
}

func TestSharedTagsRedisDown(t *testing.T) {
	rds, shared := startRedis(t, testredis.Options{})
	f := newFixture(t, setup{server: Options{Redis: shared}})
	t.Cleanup(f.srv.Close)
	tag := f.reg.Host() + "/app/signed:v1"
	if pinned, _ := mutateOne(t, f.srv, tag); pinned != f.signed {
		t.Fatalf("pinned %q, want %s", pinned, f.signed)
	}
	rds.Stop(t)

	// What a server resolved is answered from its memory; a new one
	// resolves at the registry, as without Redis.
	f.reg.Reset()
	if pinned, itemErr := mutateOne(t, f.srv, tag); pinned != f.signed || f.reg.Total() != 0 {
		t.Errorf("Redis down, a tag in memory: %q (%s) after %d registry requests", pinned, itemErr, f.reg.Total())
	}
	second := f.replica(t, Options{Redis: shared})
	for range 2 {
		f.reg.Reset()
		if pinned, itemErr := mutateOne(t, second, tag); pinned != f.signed {
			t.Fatalf("Redis down, a new server: %q (%s), want %s", pinned, itemErr, f.signed)
		}
	}
	if f.reg.Total() != 0 {
		t.Errorf("Redis down: the new server resolved the tag again within its TTL (%d requests)", f.reg.Total())
	}
	if res, _, itemErr := verifyOne(t, second, tag); !res.IsSuccess || itemErr != "" {
		t.Errorf("Redis down, verifying %s: %v %s", tag, res.IsSuccess, itemErr)
	}
}
