package registry

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
)

func TestRetries(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	r.PushImage(t, "app", "v1")
	ref := r.Reference("app", "v1")
	head := func(f testregistry.Fault) testregistry.Fault {
		f.Method, f.Kind = http.MethodHead, testregistry.KindManifest
		return f
	}

	for _, tc := range []struct {
		name     string
		opts     Options
		faults   []testregistry.Fault
		timeout  time.Duration
		want     error
		wantText string
		wantReqs int
	}{
		{name: "429 with Retry-After HTTP-date, then success",
			faults:   []testregistry.Fault{head(testregistry.Fault{Times: 1, Status: 429, RetryAfter: time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)})},
			wantReqs: 2},
		{name: "429 with Retry-After seconds, then success",
			faults: []testregistry.Fault{head(testregistry.Fault{Times: 1, Status: 429, RetryAfter: "1"})}, wantReqs: 2},
		{name: "503 twice, then success",
			faults: []testregistry.Fault{head(testregistry.Fault{Times: 2, Status: 503})}, wantReqs: 3},
		{name: "408 and 502, then success",
			faults:   []testregistry.Fault{head(testregistry.Fault{Times: 1, Status: 408}), head(testregistry.Fault{Times: 1, Status: 502})},
			wantReqs: 3},
		{name: "503 until the retries run out",
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 503})},
			want:   errdef.ErrRegistryUnavailable, wantText: "503", wantReqs: 1 + DefaultMaxRetries},
		{name: "429 until the retries run out", opts: Options{MaxRetries: 1},
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 429, RetryAfter: "0"})},
			want:   errdef.ErrRegistryUnavailable, wantText: "429", wantReqs: 2},
		{name: "no retries", opts: Options{MaxRetries: -1},
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 503})},
			want:   errdef.ErrRegistryUnavailable, wantReqs: 1},
		{name: "501 is not retried",
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 501})},
			want:   errdef.ErrRegistryUnavailable, wantReqs: 1},
		{name: "403 is not retried",
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 403})},
			want:   errdef.ErrUnauthorized, wantReqs: 1},
		// Without the deadline check these would sleep for an hour.
		{name: "Retry-After past the deadline", opts: Options{RetryMaxWait: 2 * time.Hour}, timeout: 30 * time.Second,
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 429, RetryAfter: "3600"})},
			want:   errdef.ErrRegistryUnavailable, wantText: "throttling", wantReqs: 1},
		{name: "Retry-After longer than the client waits",
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 429, RetryAfter: "3600"})},
			want:   errdef.ErrRegistryUnavailable, wantText: "throttling", wantReqs: 1},
		{name: "HTTP-date past the deadline", opts: Options{RetryMaxWait: 2 * time.Hour}, timeout: 30 * time.Second,
			faults: []testregistry.Fault{head(testregistry.Fault{Status: 503, RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)})},
			want:   errdef.ErrRegistryUnavailable, wantText: "deadline", wantReqs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.ClearFaults()
			for _, f := range tc.faults {
				r.Inject(f)
			}
			s := newStore(t, tc.opts)
			r.Reset()
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := s.Resolve(ctx, ref)
			wantErr(t, err, tc.want)
			if tc.want != nil && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if ctx.Err() != nil {
				t.Errorf("Resolve returned after the deadline: %v", ctx.Err())
			}
			if n := r.Total(); n != tc.wantReqs {
				t.Errorf("%d requests, want %d", n, tc.wantReqs)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unused := l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name, host, wantText string
	}{
		{"unused port", unused, "connection refused"},
		{"unknown host", "nonexistent.invalid", `cannot resolve host "nonexistent.invalid"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Options{})
			ref := refOf(tc.host, "app", "v1")
			_, err := s.Resolve(context.Background(), ref)
			wantErr(t, err, errdef.ErrRegistryUnavailable)
			if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), tc.host) {
				t.Errorf("error %q does not say %q about %s", err, tc.wantText, tc.host)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"99999999999999999", time.Duration(1<<63 - 1).Truncate(time.Second), true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Fri, 02 Jan 2026 03:05:05 GMT", time.Minute, true},
	} {
		got, ok := retryAfter(tc.header, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}
