package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Shape of the warm benchmark's load: warmImages signed images, each
// referenced by tag and by digest; warmPods distinct ProviderRequests of
// warmKeysPerPod keys, as Gatekeeper sends one per pod (its containers' and
// init containers' images).
const (
	warmImages     = 32
	warmPods       = 1024
	warmKeysPerPod = 3
)

// BenchmarkWarm measures the provider's warm path (issue 7: "over 20,000
// keys/s on 2 cores with p99 under 5 ms"): every result and every tag is
// cached, so no request reaches the registry (registry-req/op says so).
// Each op is one ProviderRequest of 3 keys, images referenced by tag and by
// digest, from N concurrent clients in a closed loop, each waiting for its
// answer before sending the next request:
//
//   - http: over real loopback HTTP/1.1, one kept-alive connection per
//     client (as Gatekeeper's webhook keeps its connections), through a
//     lean client (a prepared request written, the response read with
//     http.ReadResponse) so that the process's CPU is mostly the server's;
//   - handler: calls of the provider's handler in process, which separates
//     the provider's own cost from HTTP's.
//
// It reports keys/s, p50 and p99 per request, and the CPU time of the
// whole process (clients included) per request. Logging is as in
// production: Info level, text, here to a discarding writer.
//
// TTLs are an hour so that what is measured stays warm whatever
// -benchtime says; with the defaults (results 10s, tags 5s) a tag is
// resolved again every 5s and a verdict renewed every 10s, which is
// negligible at thousands of requests per second.
func BenchmarkWarm(b *testing.B) {
	w := newWarmFixture(b)
	srv := httptest.NewServer(w.srv.Handler())
	b.Cleanup(srv.Close)
	for _, mode := range []string{"handler", "http"} {
		for _, clients := range []int{2, 16, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				connect := func() (poster, func(), error) { return handlerPoster(w.srv.Handler()), func() {}, nil }
				if mode == "http" {
					connect = func() (poster, func(), error) { return dialPoster(srv.Listener.Addr().String()) }
				}
				w.run(b, clients, connect)
			})
		}
	}
}

// A poster sends one ProviderRequest and returns how long its answer took.
type poster func(body []byte) (time.Duration, error)

// warmFixture is a provider with warm caches and the requests to send it.
type warmFixture struct {
	*fixture
	srv    *Server
	bodies [][]byte
}

func newWarmFixture(b *testing.B) *warmFixture {
	f := newFixture(b, setup{})
	b.Cleanup(f.srv.Close)
	var tagged, pinned []string
	for i := range warmImages {
		repo := fmt.Sprintf("warm/app%d", i)
		d := f.reg.PushImage(b, repo, "v1")
		f.sign(b, repo, d, f.ca)
		tagged = append(tagged, f.reg.Host()+"/"+repo+":v1")
		pinned = append(pinned, f.reg.Host()+"/"+repo+"@"+d.Digest.String())
	}
	srv, err := New(Options{
		ConfigPath: f.config, CacheTTL: time.Hour, TagTTL: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	w := &warmFixture{fixture: f, srv: srv}
	// Pod p runs an application image by tag, a sidecar by digest and an
	// init container by tag, spread over the images.
	for p := range warmPods {
		w.bodies = append(w.bodies, requestBody(tagged[p%warmImages], pinned[(p*7+1)%warmImages], tagged[(p*13+2)%warmImages]))
	}
	do := handlerPoster(srv.Handler())
	for _, body := range w.bodies {
		if _, err := do(body); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// run sends b.N requests from clients concurrent clients through do and
// reports throughput and latency.
func (w *warmFixture) run(b *testing.B, clients int, connect func() (poster, func(), error)) {
	posters := make([]poster, clients)
	for c := range posters {
		do, done, err := connect()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(done)
		posters[c] = do
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	w.reg.Reset()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, do := range posters {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) || failed.Load() != nil {
					return
				}
				d, err := do(w.bodies[i%int64(len(w.bodies))])
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[i] = d
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	cpu := cpuTime() - cpu0
	slices.Sort(lat)
	b.ReportMetric(float64(b.N*warmKeysPerPod)/elapsed.Seconds(), "keys/s")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(cpu)/float64(b.N), "cpu-ms/req")
	b.ReportMetric(float64(w.reg.Total())/float64(b.N), "registry-req/op")
}

// handlerPoster calls h in process, as the HTTP server would.
func handlerPoster(h http.Handler) poster {
	return func(body []byte) (time.Duration, error) {
		start := time.Now()
		req, err := http.NewRequest(http.MethodPost, verifyPath, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		rw := &discardWriter{header: http.Header{}}
		h.ServeHTTP(rw, req)
		d := time.Since(start)
		if rw.status != http.StatusOK || rw.n == 0 {
			return 0, fmt.Errorf("status %d, %d bytes", rw.status, rw.n)
		}
		return d, nil
	}
}

// dialPoster connects to the provider at addr and posts over that one
// connection, HTTP/1.1 with keep-alive.
func dialPoster(addr string) (poster, func(), error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	head := "POST " + verifyPath + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: "
	var req []byte
	do := func(body []byte) (time.Duration, error) {
		start := time.Now()
		req = append(strconv.AppendInt(append(req[:0], head...), int64(len(body)), 10), "\r\n\r\n"...)
		if _, err := conn.Write(append(req, body...)); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK || n == 0 {
			return 0, fmt.Errorf("status %d, %d bytes: %v", resp.StatusCode, n, err)
		}
		return d, nil
	}
	return do, func() { conn.Close() }, nil
}

// discardWriter is an http.ResponseWriter that keeps only the status and
// the number of bytes written.
type discardWriter struct {
	header http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header { return d.header }

func (d *discardWriter) WriteHeader(status int) {
	if d.status == 0 {
		d.status = status
	}
}

func (d *discardWriter) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	d.n += len(p)
	return len(p), nil
}
