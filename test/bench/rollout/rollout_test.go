package rollout

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testregistry"
)

// Flags of the long rollouts; `go test` passes them after -args. Without
// -scenarios, TestRollout does nothing, so that `go test ./...` stays fast.
var (
	flagScenarios   = flag.String("scenarios", "", "rollouts to run: `a,b,b-once` or all (a: 10,000 pods over 500 images at 20 ms registry latency; b: 2,000 pods under a registry throttled to -rate; b-once: b without retries); empty runs none")
	flagReplicas    = flag.String("replicas", "1", "ratify processes per rollout, a comma-separated `list` (1,3): one row each")
	flagPods        = flag.Int("pods", 0, "pods per rollout instead of the scenario's")
	flagImages      = flag.Int("images", 0, "distinct images instead of the scenario's (500)")
	flagConcurrency = flag.Int("concurrency", 50, "admission requests in flight, as Gatekeeper's webhook has them")
	flagDeadline    = flag.Duration("deadline", 5*time.Second, "deadline of each admission request")
	flagRetries     = flag.Int("retries", 10, "times a pod denied because it could not be verified is sent again")
	flagRetryDelay  = flag.Duration("retry-delay", time.Second, "wait before a pod is sent again")
	flagLatency     = flag.Duration("latency", 20*time.Millisecond, "registry latency per request")
	flagRate        = flag.Float64("rate", 50, "requests per second the registry of scenario b admits (429 with Retry-After beyond)")
	flagFailure     = flag.Float64("failure-rate", 0, "share of registry requests answered 503, in every scenario")
	flagDigests     = flag.Bool("digests", false, "keys pinned to digests (as after Gatekeeper's mutation) instead of tags")
	flagCacheType   = flag.String("cache-type", "", "`ratify serve --cache-type` of runs with more than one replica (redis without -cache-address starts redis-server)")
	flagCacheAddr   = flag.String("cache-address", "", "`ratify serve --cache-address` of runs with more than one replica")
	flagServeArgs   = flag.String("serve-args", "", "more `ratify serve` arguments, space-separated")
	flagOut         = flag.String("out", "", "also write the markdown report to this `file`")
)

// scenario is one rollout: the pods, how they are sent, the registry's
// conditions and the ratify processes.
type scenario struct {
	Name                    string
	Pods, Images            int
	Containers              int
	Concurrency             int
	Deadline                time.Duration
	Retries                 int
	RetryDelay              time.Duration
	Registry                testregistry.Conditions
	Replicas                int
	ByDigest                bool
	CacheType, CacheAddress string
	ServeArgs               []string
	Seed                    uint64
}

// scenarios returns the rollouts the flags ask for, one per scenario and
// replica count.
func scenarios(t *testing.T) []scenario {
	t.Helper()
	names := strings.Split(*flagScenarios, ",")
	if *flagScenarios == "all" {
		names = []string{"a", "b", "b-once"}
	}
	var out []scenario
	for _, name := range names {
		for _, r := range strings.Split(*flagReplicas, ",") {
			replicas, err := strconv.Atoi(strings.TrimSpace(r))
			if err != nil || replicas < 1 {
				t.Fatalf("-replicas %q: want a list of counts", *flagReplicas)
			}
			s := scenario{
				Name: name, Pods: 10000, Images: 500, Containers: 3,
				Concurrency: *flagConcurrency, Deadline: *flagDeadline,
				Retries: *flagRetries, RetryDelay: *flagRetryDelay,
				Registry: testregistry.Conditions{Latency: *flagLatency, FailureRate: *flagFailure, Seed: 1},
				Replicas: replicas, ByDigest: *flagDigests, ServeArgs: strings.Fields(*flagServeArgs), Seed: 1,
			}
			switch name {
			case "a":
			case "b", "b-once":
				s.Pods = 2000
				s.Registry.RateLimit = *flagRate
				if name == "b-once" {
					s.Retries = 0
				}
			default:
				t.Fatalf("-scenarios: unknown scenario %q (want a, b, b-once or all)", name)
			}
			if *flagPods > 0 {
				s.Pods = *flagPods
			}
			if *flagImages > 0 {
				s.Images = *flagImages
			}
			if replicas > 1 {
				s.CacheType, s.CacheAddress = *flagCacheType, *flagCacheAddr
			}
			out = append(out, s)
		}
	}
	return out
}

// TestRollout runs the rollouts -scenarios names and prints (and writes to
// -out) the markdown report.
func TestRollout(t *testing.T) {
	if *flagScenarios == "" {
		t.Skip("no -scenarios: the long rollouts run with `make bench-rollout`")
	}
	var runs []*measurement
	for _, s := range scenarios(t) {
		t.Run(fmt.Sprintf("%s/replicas=%d", s.Name, s.Replicas), func(t *testing.T) {
			m := rollout(t, s)
			runs = append(runs, m)
			t.Logf("%s: %d attempts in %s", s.Name, m.tally.attempts, m.wall.Round(time.Millisecond))
		})
	}
	report := markdown(command(), runs)
	fmt.Println(report)
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// command is the command line that reproduces this run.
func command() string {
	args := []string{"go test -count=1 -timeout 60m -run '^TestRollout$' -v ./test/bench/rollout -args"}
	flag.Visit(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "test.") && f.Name != "out" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	return strings.Join(args, " ")
}

// measurement is what one rollout measured.
type measurement struct {
	s          scenario
	wall       time.Duration
	tally      *tally
	distinct   int // images the pods name
	requests   int // registry requests, refusals included
	counts     map[string]int
	stats      testregistry.Stats
	procs      []procStat     // per replica: CPU during the rollout, peak RSS since start
	caches     map[string]int // ratify's cache metrics, summed over the replicas
	harnessCPU time.Duration
}

// rollout sets up s, admits its pods and measures.
func rollout(t *testing.T, s scenario) *measurement {
	t.Helper()
	f := newFixture(t, s)
	all := pods(s.Pods, s.Containers, f.images, s.Seed)
	distinct := map[string]bool{}
	for _, p := range all {
		for _, k := range p.keys {
			distinct[k] = true
		}
	}
	var endpoints []string
	before := make([]procStat, len(f.replicas))
	for i, r := range f.replicas {
		endpoints = append(endpoints, r.Provider)
		ps, err := readProc(r.Pid())
		if err != nil {
			t.Fatal(err)
		}
		before[i] = ps
	}
	cpu0, start := selfCPU(), time.Now()
	g := newGenerator(s, endpoints)
	g.progress = func(line string) { t.Log(line) }
	tl := g.run(context.Background(), all)
	m := &measurement{s: s, wall: time.Since(start), harnessCPU: selfCPU() - cpu0, tally: tl, distinct: len(distinct)}
	m.requests, m.counts, m.stats = f.reg.Total(), f.reg.Counts(), f.reg.Stats()
	for i, r := range f.replicas {
		if r.Exited() {
			t.Fatalf("ratify %d exited during the rollout:\n%s", i, r.Log())
		}
		ps, err := readProc(r.Pid())
		if err != nil {
			t.Fatal(err)
		}
		ps.CPU -= before[i].CPU
		m.procs = append(m.procs, ps)
	}
	m.caches = scrapeCaches(t, f.replicas)
	return m
}
