package faults

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testfiles"
	"github.com/openratify/ratify/internal/testregistry"
)

// pipeFeed makes a named pipe and, once a reader opens it, writes up to
// total bytes of filler into it, counting what the reader took: a file
// that ratify is told to read and that never ends (as /dev/zero), but
// whose consumption the test can measure and stop.
type pipeFeed struct {
	path string
	sent atomic.Int64
	stop chan struct{} // closed by the test once ratify is done with the file
	done chan struct{} // closed once the writer has stopped
}

func newPipeFeed(t *testing.T, total int64) *pipeFeed {
	t.Helper()
	p := &pipeFeed{path: testfiles.Pipe(t, t.TempDir(), "fifo"), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// A blocking open would wait for a reader forever if ratify never
		// opens the file; a non-blocking one fails (ENXIO) until a reader
		// has, so it is tried until then or until the test stops it.
		var w *os.File
		for w == nil {
			f, err := os.OpenFile(p.path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			switch {
			case err == nil:
				w = f
			case !errors.Is(err, syscall.ENXIO):
				return
			default:
				select {
				case <-p.stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}
		defer w.Close()
		chunk := bytes.Repeat([]byte("{"), 64<<10)
		for p.sent.Load() < total {
			n, err := w.Write(chunk)
			p.sent.Add(int64(n))
			if err != nil {
				return // the reader stopped reading (EPIPE)
			}
		}
	}()
	return p
}

// TestTenantFilePathsBounded: a namespaced Verifier resource (a tenant's)
// names files ratify reads while it builds the namespace's engine: key
// files, certificate directories, Sigstore trusted roots, Rego modules. A
// file that never ends (here a pipe fed 64 MiB; /dev/zero in a pod) must
// be refused after a bounded read, with ErrInvalidConfig, so that one
// tenant cannot exhaust the memory ratify serves every tenant with.
func TestTenantFilePathsBounded(t *testing.T) {
	const feed = 64 << 20
	for _, tc := range []struct {
		name  string
		entry func(path string) map[string]any
	}{
		{"notation verificationCerts", func(path string) map[string]any {
			return map[string]any{"name": "notation-b", "type": "notation", "artifactTypes": sigType, "verificationCerts": []string{path},
				"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{"name": "b", "registryScopes": []string{"*"},
					"signatureVerification": map[string]string{"level": "strict"}, "trustStores": []string{"ca:certs"}, "trustedIdentities": []string{"*"}}}}}
		}},
		{"cosign key file", func(path string) map[string]any {
			return map[string]any{"name": "cosign-b", "type": "cosign", "trustPolicies": []any{map[string]any{"name": "b", "scopes": []string{"*"},
				"keys": []any{map[string]string{"file": path}}}}}
		}},
		{"cosign trustedRootFile", func(path string) map[string]any {
			return map[string]any{"name": "cosign-b", "type": "cosign", "trustPolicies": []any{map[string]any{"name": "b", "scopes": []string{"*"},
				"keyless": map[string]string{"certificateIdentity": "a@example.com", "certificateOIDCIssuer": "https://issuer.example"}, "trustedRootFile": path}}}
		}},
		{"attestation trustedRootFile", func(path string) map[string]any {
			return map[string]any{"name": "attestation-b", "type": "attestation", "trustedRootFile": path,
				"keyless":    map[string]string{"certificateIdentity": "a@example.com", "certificateOIDCIssuer": "https://issuer.example"},
				"predicates": []any{map[string]any{"predicateType": "https://slsa.dev/provenance/v1", "rego": "package ratify.attestation\nallow := true"}}}
		}},
		{"attestation regoFile", func(path string) map[string]any {
			return map[string]any{"name": "attestation-b", "type": "attestation", "keys": []any{map[string]string{"file": filepath.Join(filepath.Dir(path), "none.pub")}},
				"predicates": []any{map[string]any{"predicateType": "https://example.com/p", "regoFile": path}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			f := newFixture(t, testregistry.Options{Referrers: true})
			p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, baseConfig())})
			pipe := newPipeFeed(t, feed)
			writeECDSAPublicKey(t, filepath.Join(filepath.Dir(pipe.path), "none.pub"))
			entry, _ := json.Marshal(tc.entry(pipe.path))
			err := p.srv.SetOverlay(server.Overlay{Namespaces: map[string]config.Parts{"team-b": {Verifiers: []json.RawMessage{entry}, DeferKeyReferences: true}}})
			close(pipe.stop) // ratify is done with the file; the writer stops
			<-pipe.done
			sent := pipe.sent.Load()
			t.Logf("SetOverlay: %v (ratify took %.1f MiB from the pipe)", err, float64(sent)/(1<<20))
			if sent >= feed {
				t.Fatalf("%s: all %d MiB of a file that never ends were read", tc.name, feed>>20)
			}
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Errorf("SetOverlay: %v, want ErrInvalidConfig", err)
			}
			// The cluster and the other tenants keep being served.
			if r := p.post(t, "verify", f.ref("app/signed", f.signed)).Items[0].result(t); !r.IsSuccess {
				t.Errorf("after team-b's overlay, the cluster's verification: %+v", r)
			}
		})
	}
}

// writeECDSAPublicKey writes a new P-256 public key, PEM, to path: a key
// file that loads, so that what a case names after it is read too.
func writeECDSAPublicKey(t *testing.T, path string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
