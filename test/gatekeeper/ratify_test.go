package gatekeeper

import (
	"testing"

	"github.com/openratify/ratify/internal/testratify"
)

// startRatify runs `ratify serve` on loopback ports with config, serving TLS
// with m's server certificate and requiring client certificates issued by
// m's CA, and result caching off (so that every review reaches the
// registry), plus args. It returns once /readyz answers 200; the server
// (internal/testratify) stops when t ends.
func startRatify(t *testing.T, m *tlsMaterial, config string, args ...string) *testratify.Server {
	t.Helper()
	args = append([]string{"serve", "--http", "127.0.0.1:0", "--health-port", "127.0.0.1:0",
		"--metrics-port", "127.0.0.1:0", "-c", config, "--cert-dir", m.CertDir, "--ca-cert-file", m.CAFile,
		"--cache-enabled=false"}, args...)
	return testratify.Serve(t, ratifyBin, args...)
}
