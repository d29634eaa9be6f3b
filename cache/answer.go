package cache

import (
	"time"

	"github.com/openratify/ratify"
)

// Source says where the result of an Answer came from.
type Source int

// Sources of results.
const (
	// SourceVerified: this call, or the one it joined, verified the subject.
	SourceVerified Source = iota
	// SourceMemory: this process kept a fresh verdict.
	SourceMemory
	// SourceShared: the shared tier had a verdict another replica (or this one)
	// made.
	SourceShared
	// SourceStale: verifying again could not complete, and a passing verdict
	// that expired within the stale-if-error window is served instead (see
	// ResultsOptions.StaleTTL).
	SourceStale
)

func (s Source) String() string {
	switch s {
	case SourceVerified:
		return "verified"
	case SourceMemory:
		return "memory"
	case SourceShared:
		return "shared"
	case SourceStale:
		return "stale"
	}
	return "unknown"
}

// Answer is what Results.Do returns for a key.
type Answer struct {
	Result ratify.Result
	// JSON is Result as encoding/json encodes it (its TraceID empty), kept
	// with it so that callers answering from the cache need not encode it
	// again; nil when it could not be encoded. Shared by every caller of
	// the key: read it, never change it.
	JSON   []byte
	Source Source
	// ExpiredAt, for a SourceStale answer, is when the result stopped being
	// fresh.
	ExpiredAt time.Time
	// Cause, for a SourceStale answer, is why verifying again could not complete.
	Cause error
}

// Cached reports whether the result is a fresh one kept from an earlier
// verification (in memory or in the shared tier).
func (a Answer) Cached() bool { return a.Source == SourceMemory || a.Source == SourceShared }
