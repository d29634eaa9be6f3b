package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/openratify/ratify/errdef"
)

// retryTransport retries requests that a registry answered with 408, 429 or
// a transient 5xx, and requests that timed out, with exponential backoff
// and jitter. It honours Retry-After (RFC 9110, section 10.2.3: seconds or an
// HTTP-date) and never sleeps past the request context's deadline: a wait
// that would is reported at once as an error wrapping
// errdef.ErrRegistryUnavailable. After the last retry the registry's answer
// is returned as it is.
//
// A 429 is retried through the pacer (pacing.go) rather than after a sleep
// of its own: the registry's Retry-After holds every request to it, this
// one's retry included, and the retry then waits its turn at the pace the
// registry grants. A retry costs the registry one request, where giving up
// would cost it the whole verification again when the caller retries.
type retryTransport struct {
	base             http.RoundTripper
	maxRetries       int
	minWait, maxWait time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		if attempt >= t.maxRetries || !retryable(ctx, resp, err) {
			return resp, err
		}
		wait, err := t.wait(ctx, req, resp, attempt)
		if resp != nil {
			_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
		}
		if err != nil {
			return nil, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, fmt.Errorf("registry %s is failing and the request body cannot be resent: %w", req.URL.Host, errdef.ErrRegistryUnavailable)
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		if held(resp) {
			continue // the pacer holds the registry until its Retry-After
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// held reports whether resp is a 429 whose Retry-After (not zero, and not
// longer than the pacer holds a registry) the pacer holds the registry for.
func held(resp *http.Response) bool {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
	return ok && d > 0 && d <= maxHold
}

// wait returns how long to wait before the next attempt, or an error if the
// registry asks for longer than maxWait or the wait would pass the deadline.
func (t *retryTransport) wait(ctx context.Context, req *http.Request, resp *http.Response, attempt int) (time.Duration, error) {
	what := fmt.Sprintf("registry %s is failing", req.URL.Host)
	wait := min(t.minWait<<attempt, t.maxWait)
	wait = wait/2 + rand.N(wait/2+1)
	if resp != nil {
		what = fmt.Sprintf("registry %s answered %d %s", req.URL.Host, resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode == http.StatusTooManyRequests {
			what = fmt.Sprintf("registry %s is throttling (429 Too Many Requests)", req.URL.Host)
		}
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			if d > t.maxWait {
				return 0, fmt.Errorf("%s: it asks to retry after %s, longer than the %s this client waits: %w",
					what, d, t.maxWait, errdef.ErrRegistryUnavailable)
			}
			wait = max(d, t.minWait)
		}
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, fmt.Errorf("%s: waiting %s to retry would pass the request deadline: %w",
			what, wait.Round(time.Millisecond), errdef.ErrRegistryUnavailable)
	}
	return wait, nil
}

// retryable reports whether an attempt that ended with resp or err may
// succeed if repeated.
func retryable(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		var ne net.Error
		return (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, syscall.ECONNRESET)
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP-date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil && secs >= 0 {
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
