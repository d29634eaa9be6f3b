package registry

import (
	"context"
	"errors"
	"testing"

	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
)

// TestAllowedRegistries checks the registry allow-list: a reference to a
// registry not on it fails before any request, with ErrUnauthorized; one on
// it is served; patterns match whole hosts only.
func TestAllowedRegistries(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	subject := r.PushImage(t, "app", "v1")
	s := newStore(t, Options{AllowedRegistries: []string{r.Host(), "*.example.com"}})
	if d, err := s.Resolve(context.Background(), r.Reference("app", "v1")); err != nil || d.Digest != subject.Digest {
		t.Fatalf("allowed registry: %v, %v", d, err)
	}
	for _, host := range []string{"127.0.0.1:1", "evilexample.com", "a.b.example.com", "registry.example.com.evil.net", "example.com"} {
		r.Reset()
		_, err := s.Resolve(context.Background(), registry.Reference{Registry: host, Repository: "app", Reference: "v1"})
		if !errors.Is(err, errdef.ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", host, err)
		}
	}
	if _, err := New(Options{AllowedRegistries: []string{"https://registry.example.com/"}}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("a URL as a pattern: %v, want ErrInvalidConfig", err)
	}
}

// TestMetadataAddressRefused checks that the store never connects to a
// link-local address (cloud metadata services), whatever the reference
// says, while loopback registries stay reachable.
func TestMetadataAddressRefused(t *testing.T) {
	s, err := New(Options{PlainHTTP: true, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"169.254.169.254", "169.254.169.254:80", "[fe80::1]:5000", "[::ffff:169.254.169.254]:80", "0.0.0.0:5000"} {
		_, err := s.Resolve(context.Background(), registry.Reference{Registry: host, Repository: "latest/meta-data", Reference: "v1"})
		if !errors.Is(err, errdef.ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized (connection refused by the guard)", host, err)
		}
	}
	r := testregistry.New(t, testregistry.Options{})
	r.PushImage(t, "app", "v1")
	if _, err := s.Resolve(context.Background(), r.Reference("app", "v1")); err != nil {
		t.Fatalf("loopback registry through the guarded dialer: %v", err)
	}
}
