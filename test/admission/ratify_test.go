package admission

import (
	"testing"

	"github.com/openratify/ratify/internal/testcluster"
	"github.com/openratify/ratify/internal/testratify"
)

// ratify is a running `ratify serve` (internal/testratify), stopped when
// its test ends.
type ratify struct {
	*testratify.Server
	// CA issued ratify's serving certificate: the Provider's caBundle.
	CA *testcluster.CA
}

// startRatify runs `ratify serve -c config` on loopback ports, serving TLS
// 1.3 with a certificate for 127.0.0.1 from a CA of its own and requiring
// client certificates issued by clientCA (Gatekeeper's), plus args. It
// returns once /readyz answers 200.
func startRatify(t *testing.T, config, clientCA string, args ...string) *ratify {
	t.Helper()
	ca := must(testcluster.NewCA("ratify serving CA"))(t)
	certDir := t.TempDir()
	if err := ca.IssueServing(certDir, "127.0.0.1", "ratify.gatekeeper-system"); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"serve", "--http", "127.0.0.1:0", "--health-port", "127.0.0.1:0",
		"--metrics-port", "127.0.0.1:0", "-c", config, "--cert-dir", certDir, "--ca-cert-file", clientCA}, args...)
	return runRatify(t, ca, args, testratify.Env(t))
}

// runRatify runs ratify with args and env, ca having issued the serving
// certificate args name. It returns once ratify has logged the addresses of
// its provider and health listeners and /readyz answers 200.
func runRatify(t *testing.T, ca *testcluster.CA, args, env []string) *ratify {
	t.Helper()
	return &ratify{Server: testratify.ServeEnv(t, env, ratifyBin, args...), CA: ca}
}
