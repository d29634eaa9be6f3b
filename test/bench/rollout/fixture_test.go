package rollout

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// fixture is a registry holding signed images and the ratify replicas that
// verify them.
type fixture struct {
	reg *testregistry.Registry
	// images are the keys Gatekeeper sends for the images, one per image:
	// "HOST/rollout/app-NNN:v1", or pinned to the digest with byDigest.
	images []string
	// replicas are the running `ratify serve` processes.
	replicas []*testratify.Server
}

// newFixture pushes n images to a registry with the referrers API, signs
// each with one Notary Project signature (JWS, by notation-go through
// testpki) and starts s.Replicas ratify processes that trust the signer.
// The registry's conditions are set and its counts reset last, so that
// they cover only the rollout.
func newFixture(t *testing.T, s scenario) *fixture {
	t.Helper()
	f := &fixture{reg: testregistry.New(t, testregistry.Options{Referrers: true})}
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Images {
		repo := fmt.Sprintf("rollout/app-%03d", i)
		subject := f.reg.PushImage(t, repo, "v1")
		f.reg.Sign(t, repo, subject, leaf)
		ref := ":v1"
		if s.ByDigest {
			ref = "@" + subject.Digest.String()
		}
		f.images = append(f.images, f.reg.Host()+"/"+repo+ref)
	}
	config := testratify.WriteConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}})
	args := []string{"serve", "--http", "127.0.0.1:0", "--health-port", "127.0.0.1:0",
		"--metrics-port", "127.0.0.1:0", "-c", config}
	if s.CacheType != "" {
		address := s.CacheAddress
		if s.CacheType == "redis" && address == "" {
			address = startRedis(t)
		}
		args = append(args, "--cache-type", s.CacheType)
		if address != "" {
			args = append(args, "--cache-address", address)
		}
		if s.CacheType == "redis" {
			args = append(args, "--cache-hmac-key-file", hmacKey(t))
		}
	}
	args = append(args, s.ServeArgs...)
	for range s.Replicas {
		f.replicas = append(f.replicas, testratify.Serve(t, ratifyBin, args...))
	}
	f.reg.SetConditions(s.Registry)
	f.reg.Reset()
	return f
}

// hmacKey writes a random key for the values of the shared result cache
// (every replica reads the same file) and returns its path.
func hmacKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	path := filepath.Join(t.TempDir(), "hmac-key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startRedis runs redis-server (Debian's package) on a free loopback port,
// without persistence, until t ends, and returns its address.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("-cache-type redis without -cache-address needs redis-server on PATH (apt-get install redis-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	l.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no")
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(testratify.StartDeadline)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s within %s: %v", addr, testratify.StartDeadline, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
