package redis

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
)

// FuzzOpen checks the seal of shared verdicts against whoever can write to
// Redis: arbitrary bytes read under a cache key never open unless they are
// exactly what the key holder sealed for that key, and a sealed value
// moved to another key or kind of entry, or changed in any byte, does not
// open either.
func FuzzOpen(f *testing.F) {
	k := deriveKeys([]byte("0123456789abcdef0123456789abcdef"), resultEntries)
	tags := deriveKeys([]byte("0123456789abcdef0123456789abcdef"), tagEntries)
	good := k.seal("key-a", []byte(`{"isSuccess":true}`), time.Unix(1_900_000_000, 0))
	f.Add("key-a", good, 0, byte(0))
	f.Add("key-b", good, 3, byte(1))
	f.Add("", []byte{1}, 0, byte(0))
	f.Add("key-a", append([]byte{1}, bytes.Repeat([]byte{0}, 48)...), 10, byte(0xff))
	f.Fuzz(func(t *testing.T, cacheKey string, sealed []byte, flip int, mask byte) {
		payload, _, err := k.open(cacheKey, sealed)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidContent) {
				t.Fatalf("open: %v does not wrap ErrInvalidContent", err)
			}
		} else if resealed := k.seal(cacheKey, payload, notAfterOf(sealed)); !bytes.Equal(resealed, sealed) {
			t.Fatalf("opened %q under %q: not what the key holder seals", sealed, cacheKey)
		}
		// A value the key holder sealed opens only under its key, unchanged,
		// and as the kind of entry it was sealed as.
		mine := k.seal(cacheKey, sealed, time.Unix(1_900_000_000, 0))
		if _, _, err := k.open(cacheKey+"x", mine); err == nil {
			t.Fatal("a sealed value opened under another key")
		}
		if _, _, err := tags.open(cacheKey, mine); err == nil {
			t.Fatal("a sealed verdict opened as a tag resolution")
		}
		if _, _, err := k.open(cacheKey, tags.seal(cacheKey, sealed, time.Unix(1_900_000_000, 0))); err == nil {
			t.Fatal("a sealed tag resolution opened as a verdict")
		}
		if len(mine) > 0 && mask != 0 {
			i := (flip%len(mine) + len(mine)) % len(mine)
			changed := bytes.Clone(mine)
			changed[i] ^= mask
			if _, _, err := k.open(cacheKey, changed); err == nil {
				t.Fatalf("a sealed value changed at byte %d opened", i)
			}
		}
	})
}

// notAfterOf returns the expiry written in a sealed value's header.
func notAfterOf(sealed []byte) time.Time {
	var ms int64
	for _, b := range sealed[1:9] {
		ms = ms<<8 | int64(b)
	}
	return time.UnixMilli(ms)
}
