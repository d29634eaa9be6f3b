package registry

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
)

// TestCABundle talks to a TLS registry whose certificate only a configured
// CA bundle makes trusted.
func TestCABundle(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{TLS: true, Referrers: true})
	r.PushImage(t, "app", "v1")
	ca := r.CAFile(t)
	junk := writeFile(t, t.TempDir(), "junk.pem", "not a certificate", 0o600)

	for _, tc := range []struct {
		name     string
		opts     Options
		wantNew  error
		want     error
		wantText string
	}{
		{name: "bundle for host:port", opts: Options{CABundles: map[string]string{r.Host(): ca}}},
		{name: "bundle for the host name", opts: Options{CABundles: map[string]string{"127.0.0.1": ca}}},
		{name: "no bundle", want: errdef.ErrRegistryUnavailable, wantText: "TLS certificate not trusted"},
		{name: "bundle for another registry", opts: Options{CABundles: map[string]string{"other.example": ca}},
			want: errdef.ErrRegistryUnavailable, wantText: "TLS certificate not trusted"},
		{name: "plain HTTP to a TLS registry", opts: Options{PlainHTTP: true}, want: errdef.ErrRegistryUnavailable},
		{name: "missing bundle file", opts: Options{CABundles: map[string]string{r.Host(): filepath.Join(t.TempDir(), "nope.pem")}},
			wantNew: errdef.ErrInvalidConfig},
		{name: "bundle without certificates", opts: Options{CABundles: map[string]string{r.Host(): junk}},
			wantNew: errdef.ErrInvalidConfig},
		{name: "bundle with a transport that is not *http.Transport",
			opts: Options{CABundles: map[string]string{r.Host(): ca}, Transport: roundTripperFunc(http.DefaultTransport.RoundTrip)}, wantNew: errdef.ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts)
			wantErr(t, err, tc.wantNew)
			if tc.wantNew != nil {
				return
			}
			_, err = s.Resolve(context.Background(), r.Reference("app", "v1"))
			wantErr(t, err, tc.want)
			if tc.want != nil && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
		})
	}
}

// TestNoDowngrade: without PlainHTTP a plain-HTTP registry, even on
// loopback, is not reached over HTTP.
func TestNoDowngrade(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	r.PushImage(t, "app", "v1")
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Resolve(context.Background(), r.Reference("app", "v1"))
	wantErr(t, err, errdef.ErrRegistryUnavailable)
	if !strings.Contains(err.Error(), "https://") {
		t.Errorf("error %q: not an HTTPS attempt", err)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
