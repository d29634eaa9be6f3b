package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/openratify/ratify/errdef"
)

func TestForbidden(t *testing.T) {
	for addr, want := range map[string]string{
		"169.254.169.254": "link-local", "::ffff:169.254.169.254": "link-local", "fe80::1": "link-local",
		"fd00:ec2::254": "cloud metadata", "0.0.0.0": "unspecified", "::": "unspecified", "224.0.0.1": "multicast",
		"10.0.0.1": "", "192.168.1.1": "", "127.0.0.1": "", "::1": "", "8.8.8.8": "",
	} {
		if got := forbidden(netip.MustParseAddr(addr)); got != want {
			t.Errorf("forbidden(%s) = %q, want %q", addr, got, want)
		}
	}
}

// TestTransport checks that the guarded transport refuses a metadata
// address with ErrUnauthorized and reaches a loopback server.
func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	c := &http.Client{Transport: Transport()}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("loopback: %v", err)
	}
	resp.Body.Close()
	_, err = c.Get("http://169.254.169.254/latest/meta-data/")
	if !errors.Is(err, errdef.ErrUnauthorized) {
		t.Fatalf("metadata address: %v, want ErrUnauthorized", err)
	}
	if _, err := DialContext(context.Background(), "tcp", net.JoinHostPort("fe80::1", "80")); !errors.Is(err, errdef.ErrUnauthorized) {
		t.Fatalf("link-local IPv6: %v, want ErrUnauthorized", err)
	}
}
