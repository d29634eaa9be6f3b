package rollout

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Issue 7's targets.
const (
	targetRequestsPerImage = 4
	targetPeakRSS          = 128 << 20
)

// markdown renders the runs as the tables BENCHMARKS.md takes, with the
// command that produced them, the targets each run missed and why items
// failed or could not be verified.
func markdown(cmd string, runs []*measurement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "`%s`\n(%s). Images are referenced by %s; each has one Notary Project signature.\n\n",
		cmd, time.Now().Format("2006-01-02"), refKind(runs))
	fmt.Fprintf(&b, "One ProviderRequest per pod (%d keys), %d in flight, %s deadline each; a pod denied because it could "+
		"not be verified (item error, system error, timeout) is sent again after %s, up to the retries. Requests sent, "+
		"latency percentiles and items count every attempt. Registry requests include refusals. Harness: the test "+
		"process (registry and load generator); its longest stall is how late it woke up at worst, a sign of a busy machine.\n\n",
		first(runs).Containers, first(runs).Concurrency, first(runs).Deadline, first(runs).RetryDelay)

	b.WriteString("| scenario | replicas | pods | requests sent | p50 | p95 | p99 | timeouts | system errors | items passed · failed · errors | pods admitted first try · in all · denied failed · denied unverified | wall |\n")
	b.WriteString("|----------|---------:|-----:|--------------:|----:|----:|----:|---------:|--------------:|-------------------------------:|---------------------------------------------------------------------:|-----:|\n")
	for _, m := range runs {
		tl, lat := m.tally, sorted(m.tally.latencies)
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %s | %d | %d | %d · %d · %d | %d · %d · %d · %d | %s |\n",
			m.label(), m.s.Replicas, m.s.Pods, tl.attempts, dur(pct(lat, 50)), dur(pct(lat, 95)), dur(pct(lat, 99)),
			tl.timeouts, tl.system, tl.passed, tl.failed, tl.errored,
			tl.firstTry, tl.verdicts[admitted], tl.verdicts[failed], tl.verdicts[unverified], m.wall.Round(100*time.Millisecond))
	}

	b.WriteString("\n| scenario | replicas | distinct images | registry requests | per distinct image | 429s drawn (per image) | 5xx | peak in flight | signed images reported failing · with errors | ratify CPU s | ratify peak RSS MiB | harness CPU s · longest stall |\n")
	b.WriteString("|----------|---------:|----------------:|------------------:|-------------------:|-----------------------:|----:|---------------:|---------------------------------------------:|-------------:|--------------------:|------------------------------:|\n")
	for _, m := range runs {
		var cpu, rss []string
		for _, p := range m.procs {
			cpu = append(cpu, fmt.Sprintf("%.1f", p.CPU.Seconds()))
			rss = append(rss, fmt.Sprintf("%.0f", float64(p.PeakRSS)/(1<<20)))
		}
		failing, erroring := m.imagesReported()
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f | %d (%.1f) | %d | %d | %d · %d | %s | %s | %.1f · %s |\n",
			m.label(), m.s.Replicas, m.distinct, m.requests, m.perImage(), m.stats.Throttled,
			float64(m.stats.Throttled)/float64(max(1, m.distinct)), m.stats.Failed,
			m.stats.PeakInFlight, failing, erroring, strings.Join(cpu, " · "), strings.Join(rss, " · "), m.harnessCPU.Seconds(), dur(m.tally.maxStall))
	}

	b.WriteString("\nIssue 7's targets (zero timeouts at the deadline, at most 4 registry requests per distinct image, peak RSS under 128 MiB for one replica; throttled: no signed image reported failing, no amplification):\n\n")
	for _, m := range runs {
		fmt.Fprintf(&b, "- %s, %d replica(s): %s\n", m.label(), m.s.Replicas, strings.Join(m.missed(), "; "))
	}
	b.WriteString("\nRegistry requests by kind, ratify's cache metrics (all replicas) and why items failed or could not be verified (masked, most frequent first):\n")
	for _, m := range runs {
		fmt.Fprintf(&b, "\n- %s, %d replica(s): %s\n", m.label(), m.s.Replicas, m.kinds())
		if len(m.caches) > 0 {
			fmt.Fprintf(&b, "  - %s\n", strings.Join(byCount(m.caches, 0), "; "))
		}
		for _, r := range byCount(m.tally.reasons, 6) {
			fmt.Fprintf(&b, "  - %s\n", r)
		}
	}
	return b.String()
}

// label describes the scenario in a table cell.
func (m *measurement) label() string {
	s := m.s
	l := fmt.Sprintf("%s: %d ms", s.Name, s.Registry.Latency.Milliseconds())
	if s.Retries > 0 {
		l += fmt.Sprintf(", %d retries", s.Retries)
	}
	if s.Registry.RateLimit > 0 {
		l += fmt.Sprintf(", %g req/s", s.Registry.RateLimit)
	}
	if s.Registry.FailureRate > 0 {
		l += fmt.Sprintf(", %g%% 5xx", 100*s.Registry.FailureRate)
	}
	if s.CacheType != "" {
		l += ", cache " + s.CacheType
	}
	return l
}

func first(runs []*measurement) scenario {
	if len(runs) == 0 {
		return scenario{}
	}
	return runs[0].s
}

func refKind(runs []*measurement) string {
	if len(runs) > 0 && runs[0].s.ByDigest {
		return "digest"
	}
	return "tag (`HOST/rollout/app-NNN:v1`, as pod specs name them)"
}

func (m *measurement) perImage() float64 {
	if m.distinct == 0 {
		return 0
	}
	return float64(m.requests) / float64(m.distinct)
}

// imagesReported counts the (all signed) images reported failing at least
// once, and those answered with an error at least once.
func (m *measurement) imagesReported() (failing, erroring int) {
	for _, img := range m.tally.images {
		if img.failed > 0 {
			failing++
		}
		if img.errored > 0 {
			erroring++
		}
	}
	return failing, erroring
}

// missed lists the targets the run missed, by how much.
func (m *measurement) missed() []string {
	var out []string
	if n := m.tally.timeouts; n > 0 {
		out = append(out, fmt.Sprintf("%d timeouts (%.1f%% of requests), want 0", n, 100*float64(n)/float64(m.tally.attempts)))
	}
	if r := m.perImage(); r > targetRequestsPerImage {
		out = append(out, fmt.Sprintf("%.1f registry requests per distinct image, want ≤ %d (×%.1f)", r, targetRequestsPerImage, r/targetRequestsPerImage))
	}
	for i, p := range m.procs {
		if m.s.Replicas == 1 && p.PeakRSS >= targetPeakRSS {
			out = append(out, fmt.Sprintf("replica %d peak RSS %.0f MiB, want < 128", i, float64(p.PeakRSS)/(1<<20)))
		}
	}
	if failing, _ := m.imagesReported(); failing > 0 {
		out = append(out, fmt.Sprintf("%d signed images reported failing, want 0", failing))
	}
	if n := m.tally.verdicts[unverified]; n > 0 {
		out = append(out, fmt.Sprintf("%d pods never admitted after %d retries", n, m.s.Retries))
	}
	if len(out) == 0 {
		return []string{"all met"}
	}
	return out
}

// kinds renders the registry requests by kind, with the 429s among them.
func (m *measurement) kinds() string {
	parts := byCount(m.counts, 0)
	for i, p := range parts {
		kind := p[:strings.LastIndex(p, " ×")]
		if n := m.stats.ThrottledBy[kind]; n > 0 {
			parts[i] += fmt.Sprintf(" (%d refused 429)", n)
		}
	}
	return strings.Join(parts, "; ")
}

// byCount renders counts as "key ×n", largest first, at most limit (0:
// all).
func byCount(counts map[string]int, limit int) []string {
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", strings.ReplaceAll(k, "|", `\|`), counts[k]))
	}
	return parts
}

func sorted(d []time.Duration) []time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d
}

// pct is the p-th percentile of sorted by nearest rank.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// dur renders d in milliseconds with three significant digits.
func dur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}
