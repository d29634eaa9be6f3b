// Package rollout replays a Kubernetes rollout against real `ratify serve`
// processes, as OPA Gatekeeper's validating webhook drives them through
// the external data provider protocol (externaldata.gatekeeper.sh/v1beta1):
// one ProviderRequest per pod, with the image of each of its containers as
// a key, POSTed to /ratify/gatekeeper/v1/verify by a bounded number of
// concurrent clients with a deadline each. The images live in an
// in-process OCI registry (internal/testregistry) that serves the
// distribution-spec v1.1 referrers API with injected latency, throttling
// (429 with Retry-After) and failures, each signed with a Notary Project
// signature that ratify's trust policy accepts.
//
// It reports, per scenario and replica count, the admission latency
// percentiles, timeouts, the items that passed, failed or could not be
// verified, the pods admitted with Gatekeeper-like retries, the registry
// requests per distinct image and the 429s drawn, and the CPU time and
// peak RSS of each ratify process (/proc/PID/stat, /proc/PID/status
// VmHWM), as markdown tables for BENCHMARKS.md.
//
// `go test ./test/bench/rollout` (and `make test`) runs only a small smoke
// rollout that keeps the harness working. `make bench-rollout` (part of
// `make bench`, flags in ROLLOUT_FLAGS) runs the rollouts of issue 7, one
// ratify and three sharing a Redis result cache (redis-server from PATH):
//
//	go test -count=1 -timeout 60m -run '^TestRollout$' -v ./test/bench/rollout \
//	  -args -scenarios all -replicas 1,3 -cache-type redis
//
// See rollout_test.go for the flags; -ratify drives a binary built
// elsewhere.
package rollout

import (
	"flag"
	"testing"

	"github.com/openratify/ratify/internal/testratify"
)

// ratifyBin is the ratify binary under test; TestMain sets it once.
var ratifyBin string

var flagRatify = flag.String("ratify", "", "ratify `binary` to drive instead of one built from ./cmd/ratify")

// TestMain builds ratify (internal/testratify), unless -ratify names a
// binary, then runs the tests.
func TestMain(m *testing.M) {
	flag.Parse()
	testratify.Main(m, "rollout", func() (err error) {
		if ratifyBin = *flagRatify; ratifyBin != "" {
			return nil
		}
		ratifyBin, err = testratify.Build()
		return err
	})
}
