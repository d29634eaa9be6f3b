package ratify_test

import (
	"errors"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// FuzzParseReference feeds arbitrary strings to the reference parser: it
// must never panic, and everything it accepts must name a registry,
// repository and tag or digest that survive a round trip.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"nginx", "docker.io/library/nginx:1.27", "127.0.0.1:5000/a/b@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"localhost/x:y@sha256:abc", "[ns]image", "a//b", "A:b", ":", "@", "x@sha512:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ratify.ParseReference(s)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("ParseReference(%q) error %v does not wrap ErrInvalidReference", s, err)
			}
			return
		}
		if ref.Registry == "" || ref.Repository == "" || ref.Reference == "" {
			t.Fatalf("ParseReference(%q) = %+v: a part is empty", s, ref)
		}
		again, err := ratify.ParseReference(ref.String())
		if err != nil || again != ref {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, ref, ref.String(), again, err)
		}
	})
}
