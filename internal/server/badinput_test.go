package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBadRequests(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.Handler()
	many := make([]string, 10_000)
	for i := range many {
		many[i] = fmt.Sprintf("registry.example/app:%d", i)
	}
	tests := []struct {
		name   string
		method string
		body   []byte
		status int
		reason string
	}{
		{"not JSON", http.MethodPost, []byte("hello"), http.StatusBadRequest, "not a ProviderRequest"},
		{"wrong kind", http.MethodPost, []byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderResponse","request":{"keys":["a/b"]}}`), http.StatusBadRequest, `and "ProviderResponse"`},
		{"wrong apiVersion", http.MethodPost, []byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1alpha1","kind":"ProviderRequest","request":{"keys":["a/b"]}}`), http.StatusBadRequest, "want apiVersion"},
		{"20 MiB body", http.MethodPost, bytes.Repeat([]byte(" "), 20<<20), http.StatusRequestEntityTooLarge, "larger than"},
		{"10,000 keys", http.MethodPost, requestBody(many...), http.StatusRequestEntityTooLarge, "10000 keys, more than 4096"},
		{"no keys", http.MethodPost, requestBody(), http.StatusBadRequest, "no keys"},
		{"empty key", http.MethodPost, requestBody(f.signed, ""), http.StatusBadRequest, "keys[1]: empty key"},
		{"namespace without image", http.MethodPost, requestBody("[ns]"), http.StatusBadRequest, "namespace without an image"},
		{"unterminated namespace", http.MethodPost, requestBody("[ns" + f.signed), http.StatusBadRequest, "no closing"},
		{"GET", http.MethodGet, nil, http.StatusMethodNotAllowed, "use POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{verifyPath, mutatePath} {
				req, _ := http.NewRequest(tt.method, path, bytes.NewReader(tt.body))
				rec := httptestDo(h, req)
				if rec.code != tt.status || !strings.Contains(rec.body, tt.reason) {
					t.Errorf("%s: %d %q, want %d mentioning %q", path, rec.code, truncate(rec.body), tt.status, tt.reason)
				}
			}
			// The server keeps serving.
			status, resp := post(t, h, verifyPath, requestBody(f.signed), nil)
			if status != http.StatusOK || !decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
				t.Fatalf("after the bad request: %d %+v", status, resp)
			}
		})
	}
}

// TestSlowClientsAreCut holds a connection that never finishes its headers
// and checks that the server closes it while it goes on serving others.
func TestSlowClientsAreCut(t *testing.T) {
	f := newFixture(t, setup{server: Options{ReadHeaderTimeout: 200 * time.Millisecond}})
	addr := f.run(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST "+verifyPath+" HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Meanwhile another client is served.
	resp, err := http.Post("http://"+addr+verifyPath, "application/json", bytes.NewReader(requestBody(f.signed)))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a normal client while a slow one waits: %v %v", resp, err)
	}
	resp.Body.Close()
	// The slow client is cut off: the server closes the connection, long
	// before this generous deadline.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n')
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("slow connection still open (read: %v)", err)
	}
}

// run starts the fixture's server on loopback and returns the provider's
// address; the server stops when the test ends.
func (f *fixture) run(t *testing.T) string {
	t.Helper()
	addrs := make(chan string, 3)
	f.srv.opts.Addr, f.srv.opts.HealthAddr, f.srv.opts.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	f.srv.opts.OnListen = func(name, addr string) {
		if name == "provider" {
			addrs <- addr
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case addr := <-addrs:
		return addr
	case err := <-done:
		t.Fatalf("Run: %v", err)
		return ""
	}
}

type recorded struct {
	code int
	body string
}

// httptestDo serves req and returns the status and the system error of
// the response (or the raw body if it is not a ProviderResponse).
func httptestDo(h http.Handler, req *http.Request) recorded {
	rec := newRecorder()
	h.ServeHTTP(rec, req)
	var resp decodedResponse
	if json.Unmarshal(rec.Body.Bytes(), &resp) == nil && resp.Kind == kindResponse {
		return recorded{rec.Code, resp.Response.SystemError}
	}
	return recorded{rec.Code, rec.Body.String()}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
