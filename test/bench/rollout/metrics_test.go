package rollout

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testratify"
)

// cacheMetrics are the families of ratify's Prometheus metrics (README,
// "Metrics") that tell how the result cache served a rollout.
var cacheMetrics = []string{
	"ratify_result_cache_count", "ratify_shared_cache_count", "ratify_result_cache_stale_count",
	"ratify_system_error_count",
}

// scrapeCaches sums the cacheMetrics samples of the replicas, by series
// (name and labels). A replica without metrics adds nothing.
func scrapeCaches(t *testing.T, replicas []*testratify.Server) map[string]int {
	t.Helper()
	sums := map[string]int{}
	for _, r := range replicas {
		resp, err := http.Get("http://" + r.Metrics(t) + "/metrics")
		if err != nil {
			t.Logf("metrics: %v", err)
			continue
		}
		addSamples(sums, resp.Body)
		resp.Body.Close()
	}
	return sums
}

// addSamples adds the cacheMetrics samples of a Prometheus text exposition
// to sums.
func addSamples(sums map[string]int, r io.Reader) {
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		line := lines.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		name, _, _ := strings.Cut(series, "{")
		for _, m := range cacheMetrics {
			if name == m {
				v, err := strconv.ParseFloat(value, 64)
				if err == nil {
					sums[series] += int(v)
				}
			}
		}
	}
}

func TestAddSamples(t *testing.T) {
	sums := map[string]int{}
	for range 2 {
		addSamples(sums, strings.NewReader(`# HELP ratify_result_cache_count x
# TYPE ratify_result_cache_count counter
ratify_result_cache_count{result="hit"} 12
ratify_result_cache_count{result="miss"} 3
ratify_verification_request_bucket{le="1"} 9
ratify_system_error_count 1
`))
	}
	want := map[string]int{`ratify_result_cache_count{result="hit"}`: 24, `ratify_result_cache_count{result="miss"}`: 6, "ratify_system_error_count": 2}
	if len(sums) != len(want) {
		t.Errorf("sums = %v, want %v", sums, want)
	}
	for k, v := range want {
		if sums[k] != v {
			t.Errorf("%s = %d, want %d", k, sums[k], v)
		}
	}
}
