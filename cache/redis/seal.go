package redis

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
)

// KeyPrefix starts the name of every verdict entry this package writes,
// TagKeyPrefix that of every tag resolution (Client.Tags); "v1" is the
// format of the entries (sealedVersion), not a version of ratify.
const (
	KeyPrefix    = "ratify:v1:result:"
	TagKeyPrefix = "ratify:v1:tag:"
)

// MinKeyBytes is the shortest HMAC key accepted: as long as the SHA-256
// output (RFC 2104, section 3).
const MinKeyBytes = 32

// maxKeyFileBytes bounds what ReadKeyFile reads.
const maxKeyFileBytes = 4096

// A sealed value is
//
//	version (1 byte) | not-after (8 bytes, Unix milliseconds, big endian) | MAC (32 bytes) | payload
//
// with MAC = HMAC-SHA256(mac key, domain | len(cache key) | cache key | version | not-after | payload).
// The MAC binds the payload to the cache key it was written under (a value
// copied under another name fails) and to its expiry (a value written
// again after it expired, by someone replaying it, fails).
const (
	sealedVersion = 1
	headerBytes   = 1 + 8 + sha256.Size
)

// entryKind is what a set of entries holds. Each kind has its own name
// prefix, its own naming and MAC keys (derived from the secret under its
// own labels) and its own MAC domain, so that an entry of one kind never
// opens as the other: a verdict copied over a tag's entry is no digest.
type entryKind struct {
	label  string // of the derived keys: label+": entry names", label+": entry MACs"
	prefix string
	domain string
}

// The kinds of entries: verdicts (cache.Results) and tag resolutions
// (cache.Store).
var (
	resultEntries = entryKind{label: "ratify result cache", prefix: KeyPrefix, domain: "ratify result cache v1\x00"}
	tagEntries    = entryKind{label: "ratify tag cache", prefix: TagKeyPrefix, domain: "ratify tag cache v1\x00"}
)

// keys are the two keys derived from the configured secret for one kind of
// entries: one names entries, one authenticates them.
type keys struct {
	name, mac []byte
	kind      entryKind
}

func deriveKeys(secret []byte, kind entryKind) keys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return keys{name: derive(kind.label + ": entry names"), mac: derive(kind.label + ": entry MACs"), kind: kind}
}

// entryName is the Redis key of cache key: the kind's prefix and the hex
// HMAC-SHA256 of the cache key under the naming key. Names say nothing of
// the image or configuration they hold a verdict on, and deployments with
// different secrets never write to the same names.
func (k keys) entryName(cacheKey string) string {
	m := hmac.New(sha256.New, k.name)
	m.Write([]byte(cacheKey))
	return k.kind.prefix + hex.EncodeToString(m.Sum(nil))
}

func (k keys) sum(cacheKey string, notAfter []byte, payload []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(k.kind.domain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(cacheKey)))
	m.Write(n[:])
	m.Write([]byte(cacheKey))
	m.Write([]byte{sealedVersion})
	m.Write(notAfter)
	m.Write(payload)
	return m.Sum(nil)
}

// seal returns payload sealed for cacheKey, valid until notAfter.
func (k keys) seal(cacheKey string, payload []byte, notAfter time.Time) []byte {
	out := make([]byte, headerBytes, headerBytes+len(payload))
	out[0] = sealedVersion
	binary.BigEndian.PutUint64(out[1:9], uint64(notAfter.UnixMilli()))
	copy(out[9:headerBytes], k.sum(cacheKey, out[1:9], payload))
	return append(out, payload...)
}

// open checks a sealed value read under cacheKey and returns its payload
// and expiry; a value that fails is ErrInvalidContent.
func (k keys) open(cacheKey string, sealed []byte) ([]byte, time.Time, error) {
	if len(sealed) < headerBytes || sealed[0] != sealedVersion {
		return nil, time.Time{}, fmt.Errorf("entry is not a sealed result: %w", errdef.ErrInvalidContent)
	}
	payload := sealed[headerBytes:]
	if !hmac.Equal(sealed[9:headerBytes], k.sum(cacheKey, sealed[1:9], payload)) {
		return nil, time.Time{}, fmt.Errorf("entry's HMAC does not match its name and content: %w", errdef.ErrInvalidContent)
	}
	notAfter := time.UnixMilli(int64(binary.BigEndian.Uint64(sealed[1:9])))
	return payload, notAfter, nil
}

// ReadKeyFile reads an HMAC key from path, such as a file of a mounted
// Kubernetes Secret. Leading and trailing white space (the newline an
// editor or `echo` adds) is not part of the key; what remains must be at
// least MinKeyBytes long. Every replica that shares results must read the
// same key.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("HMAC key file: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("HMAC key file %s holds %d bytes, fewer than %d (make one with `head -c 32 /dev/urandom | base64`): %w",
			path, len(key), MinKeyBytes, errdef.ErrInvalidConfig)
	}
	return key, nil
}

// ReadPasswordFile reads a Redis password from path; a trailing newline is
// not part of it.
func ReadPasswordFile(path string) (string, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

func readSmallFile(path string) ([]byte, error) {
	b, err := limitedfile.Read(path, maxKeyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdef.ErrInvalidConfig)
	}
	return b, nil
}
