package k8s

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// TestBrief checks the short form of errors shown in the printer column.
func TestBrief(t *testing.T) {
	long := ""
	for len(long) < 200 {
		long += "0123456789"
	}
	tests := []struct{ in, want string }{
		{"verifier.plugins[0] (notation): trust policy: invalid configuration", "trust policy"},
		{"verifier.plugins[12].verificationCerts: none: invalid configuration", "verificationCerts: none"},
		{"store.plugins[0].name: unknown store: invalid configuration", "name: unknown store"},
		{"policy.plugin.name: regoPolicy: invalid configuration", "name: regoPolicy"},
		{"policy.plugin: missing: invalid configuration", "missing"},
		{"spec.source: no: unsupported", "spec.source: no"},
		{long, long[:117] + "..."},
	}
	for _, tt := range tests {
		// The sentinel is stripped only when the error wraps it.
		err := wrapLike(tt.in)
		if got := brief(err); got != tt.want {
			t.Errorf("brief(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := brief(plainError("x: invalid configuration")); got != "x: invalid configuration" {
		t.Errorf("a sentinel that is not wrapped was stripped: %q", got)
	}
}

// wrapLike returns an error with message msg that wraps the errdef
// sentinel its message ends with, as config's errors do.
func wrapLike(msg string) error {
	for _, sentinel := range []error{errdef.ErrInvalidConfig, errdef.ErrUnsupported} {
		if prefix, ok := strings.CutSuffix(msg, ": "+sentinel.Error()); ok {
			return fmt.Errorf("%s: %w", prefix, sentinel)
		}
	}
	return errors.New(msg)
}

func plainError(msg string) error { return errors.New(msg) }
