package server

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkProvider measures verify requests over loopback HTTP against an
// in-process registry: warm (every result cached) and cold (no cache of
// any kind, so each request does the whole registry work), with 1 and 10
// keys per request, with and without 20 ms of latency added to every
// registry response. It reports requests per second, p50 and p99 latency,
// and the CPU time of the whole process (client, server and registry) per
// request.
func BenchmarkProvider(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		for _, warm := range []bool{true, false} {
			for _, keys := range []int{1, 10} {
				name := fmt.Sprintf("latency=%s/warm=%v/keys=%d", latency, warm, keys)
				b.Run(name, func(b *testing.B) { benchProvider(b, latency, warm, keys) })
			}
		}
	}
}

func benchProvider(b *testing.B, latency time.Duration, warm bool, nkeys int) {
	opts := Options{}
	if !warm {
		opts = Options{CacheTTL: -1, ContentCacheBytes: -1, TagTTL: -1}
	}
	f := newFixture(b, setup{server: opts, registry: delay(latency)})
	keys := []string{f.signed}
	for i := 1; i < nkeys; i++ {
		repo := fmt.Sprintf("app/more%d", i)
		d := f.reg.PushImage(b, repo, "v1")
		f.sign(b, repo, d, f.ca)
		keys = append(keys, f.reg.Host()+"/"+repo+"@"+d.Digest.String())
	}
	srv := httptest.NewServer(f.srv.Handler())
	defer srv.Close()
	body := requestBody(keys...)
	client := srv.Client()
	do := func() time.Duration {
		start := time.Now()
		resp, err := client.Post(srv.URL+verifyPath, "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("request: %v %v", resp, err)
		}
		resp.Body.Close()
		return time.Since(start)
	}
	if warm {
		do()
	}
	var mu sync.Mutex
	var lat []time.Duration
	cpu0 := cpuTime()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			mine = append(mine, do())
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(cpu)/float64(len(lat)), "cpu-ms/req")
}

// delay adds latency to every registry response.
func delay(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if d == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(d)
			next.ServeHTTP(w, r)
		})
	}
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
