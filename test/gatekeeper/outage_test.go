package gatekeeper

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openratify/ratify/internal/testregistry"
)

// TestRegistryOutageDenied: when the registry fails, a Pod, signed images
// included, is denied, never admitted. A registry that refuses (503, 429
// past the deadline, connection refused) makes ratify answer an item error
// for the image ("could not verify", not "failed verification"); one that
// never answers makes ratify's deadline expire, and ratify answers the whole
// request with a system error and HTTP 500. A recording proxy between
// Gatekeeper and ratify shows those answers on the wire.
func TestRegistryOutageDenied(t *testing.T) {
	var hang atomic.Bool
	im := newImages(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hang.Load() {
				<-r.Context().Done() // until ratify gives up
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	m := newTLSMaterial(t)
	// A deadline far above the time ratify's bounded retries of a 503 take.
	r := startRatify(t, m, im.config(t, 10000))
	proxy := newRecordingProxy(t, m, r.Provider)
	gk := newGatekeeper(t, gatekeeperOptions{Template: defaultTemplate, ProviderAddr: proxy.Addr,
		CABundle: m.CABundle(t), ClientCert: m.ClientCert, ClientKey: m.ClientKey})
	signed := im.signed(t, "app")
	review := func(t *testing.T, images ...string) []string {
		t.Helper()
		return gk.review(t, createRequest(t, "default", pod{Containers: images}))
	}
	// Control: the same Pod is admitted while the registry is up.
	wantDenials(t, review(t, signed))
	wantResults(t, wantKeys(t, proxy.take(), signed), map[string]bool{signed: true})

	t.Run("503", func(t *testing.T) {
		im.reg.Inject(testregistry.Fault{Status: http.StatusServiceUnavailable})
		defer im.reg.ClearFaults()
		wantCouldNotVerify(t, review(t, signed), signed, "503")
		wantItemError(t, wantKeys(t, proxy.take(), signed), signed)
	})

	t.Run("connection refused", func(t *testing.T) {
		l := must(net.Listen("tcp", "127.0.0.1:0"))(t)
		gone := l.Addr().String() + "/app:v1"
		l.Close()
		wantCouldNotVerify(t, review(t, signed, gone), gone, "connection refused")
		ex := wantKeys(t, proxy.take(), signed, gone)
		wantItemError(t, ex, gone)
	})

	t.Run("hangs past the deadline", func(t *testing.T) {
		hang.Store(true)
		defer hang.Store(false)
		got := review(t, signed)
		prefix := "[ratify-constraint] System error calling external data provider: "
		if len(got) != 1 || !strings.HasPrefix(got[0], prefix) || len(got[0]) == len(prefix) {
			t.Errorf("denials %q; want one, %q and a reason", got, prefix)
		}
		ex := wantKeys(t, proxy.take(), signed)
		if resp := ex.answer(t); ex.Status != http.StatusInternalServerError || resp.Response.SystemError == "" {
			t.Errorf("answer %d %s; want 500 with a system error", ex.Status, ex.Body)
		}
	})
	// Last, and of another image: the registry asks to be left alone for
	// an hour, and ratify does so (up to a minute) for every later request
	// to it; the hung verification above still goes on in the background
	// for its image.
	t.Run("429 past the deadline", func(t *testing.T) {
		other := im.signed(t, "other")
		im.reg.Inject(testregistry.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3600"})
		defer im.reg.ClearFaults()
		wantCouldNotVerify(t, review(t, other), other, "429")
		wantItemError(t, wantKeys(t, proxy.take(), other), other)
	})
}

// wantCouldNotVerify fails the test unless got is one denial saying that
// image could not be verified, for a reason that mentions why.
func wantCouldNotVerify(t *testing.T, got []string, image, why string) {
	t.Helper()
	prefix := "[ratify-constraint] Could not verify image " + image + ": "
	if len(got) != 1 || !strings.HasPrefix(got[0], prefix) || !strings.Contains(got[0], why) {
		t.Errorf("denials %q; want one, %q..., mentioning %q", got, prefix, why)
	}
}

// wantItemError fails the test unless the exchange's answer is HTTP 200
// without a system error, and its item for key is an error, not a value.
func wantItemError(t *testing.T, ex exchange, key string) {
	t.Helper()
	resp := ex.answer(t)
	if ex.Status != http.StatusOK || resp.Response.SystemError != "" {
		t.Errorf("answer %d %s; want 200 without a system error", ex.Status, ex.Body)
	}
	for _, item := range resp.Response.Items {
		if item.Key == key {
			if item.Error == "" || item.Value != nil {
				t.Errorf("item %q: value %v, error %q; want an error only", key, item.Value, item.Error)
			}
			return
		}
	}
	t.Errorf("answer %s has no item for %q", ex.Body, key)
}
