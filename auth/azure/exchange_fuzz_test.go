package azure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
)

// fuzzTransport answers every request with one fuzzed response.
type fuzzTransport struct {
	status int
	body   []byte
}

func (f fuzzTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: f.status, Header: http.Header{"Content-Length": {strconv.Itoa(len(f.body))}},
		Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)), Request: req}, nil
}

// FuzzExchange feeds arbitrary answers of a registry's /oauth2/exchange
// (anyone on the allow-list of endpoints, or in the path to it) to the
// token exchange: it never panics; a failure wraps an errdef sentinel;
// a success carries a refresh token, and an expiry read from a JWT "exp"
// claim or the fallback.
func FuzzExchange(f *testing.F) {
	f.Add(200, []byte(`{"refresh_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjE4MDAwMDAwMDB9.sig"}`))
	f.Add(200, []byte(`{"refresh_token":"a.b.c"}`))
	f.Add(200, []byte(`{"refresh_token":"x.eyJleHAiOiIxZTk5OSJ9.y"}`))
	f.Add(200, []byte(`{"refresh_token":"x.eyJleHAiOi0xfQ.y"}`))
	f.Add(401, []byte(`{"errors":[]}`))
	f.Add(503, []byte(nil))
	f.Add(200, []byte(`{"refresh_token":""}`))
	fallback := time.Unix(1_900_000_000, 0)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		client := &http.Client{Transport: fuzzTransport{status, body}, CheckRedirect: noRedirect}
		tok, exp, err := exchange(context.Background(), client, "registry.fuzz.invalid", "tenant", "entra-token", fallback)
		if err != nil {
			for _, s := range []error{errdef.ErrRegistryUnavailable, errdef.ErrUnauthorized, errdef.ErrInvalidContent, errdef.ErrSizeExceedsLimit, errdef.ErrInvalidReference} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("exchange: %v wraps no sentinel", err)
		}
		if status != http.StatusOK || tok == "" {
			t.Fatalf("exchange accepted status %d, token %q", status, tok)
		}
		if jexp, ok := jwtExpiry(tok); (ok && !exp.Equal(jexp)) || (!ok && !exp.Equal(fallback)) {
			t.Fatalf("expiry %v for token %q", exp, tok)
		}
	})
}
