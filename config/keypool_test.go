package config

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/keys"
)

// filesConfig is config.json with one files provider reading dir every
// interval, named by the notation verifier.
func filesConfig(t *testing.T, dir, interval string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(withKeys(`{"ca": {"certs": ["kmp-files"]}}`,
		`[{"name": "kmp-files", "type": "files", "parameters": {"paths": ["`+dir+`"], "refreshInterval": "`+interval+`"}}]`)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeCA(t *testing.T, path, name string) *testpki.Certificate {
	t.Helper()
	ca, err := testpki.NewRootCA(testpki.CertOptions{Subject: pkix.Name{CommonName: name}})
	if err != nil {
		t.Fatal(err)
	}
	if err := testpki.WritePEM(path, ca.Cert); err != nil {
		t.Fatal(err)
	}
	return ca
}

// waitStatus polls the pool until check accepts the status of name; the
// deadline is generous: it only bounds a broken test.
func waitStatus(t *testing.T, pool *KeyPool, name, what string, check func(keys.Status) bool) keys.Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := pool.Status(name)
		if ok && check(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status of %s is %+v (pooled %v)", what, name, st, ok)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeyPool checks that pooled providers outlive rebuilds while their
// declaration stands, are refreshed in the background while Run runs
// (without any verification asking), and go when no longer declared.
func TestKeyPool(t *testing.T) {
	dir := t.TempDir()
	first := writeCA(t, filepath.Join(dir, "ca.pem"), "First CA")
	pool := NewKeyPool()
	cfg := filesConfig(t, dir, "20ms")
	providers, err := BuildKeyProviders(cfg, BuildOptions{KeyPool: pool})
	if err != nil {
		t.Fatal(err)
	}
	again, err := BuildKeyProviders(cfg, BuildOptions{KeyPool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if providers["kmp-files"] != again["kmp-files"] {
		t.Fatal("an unchanged declaration built a new provider")
	}
	if st, _ := pool.Status("kmp-files"); !st.LastFetched.IsZero() {
		t.Fatalf("fetched before anything asked or Run ran: %+v", st)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Run(ctx); close(done) }()
	waitStatus(t, pool, "kmp-files", "after Run started", func(st keys.Status) bool {
		return st.Success && len(st.Properties) == 1 && st.Properties[0].Subject == first.Cert.Subject.String()
	})

	// The file is rotated: the background refresh picks up the new CA.
	second := writeCA(t, filepath.Join(dir, "ca.pem"), "Second CA")
	waitStatus(t, pool, "kmp-files", "after rotation", func(st keys.Status) bool {
		return len(st.Properties) == 1 && st.Properties[0].Subject == second.Cert.Subject.String()
	})
	m, err := providers["kmp-files"].Material(ctx)
	if err != nil || len(m.X509()) != 1 || !m.X509()[0].Equal(second.Cert) {
		t.Fatalf("material after rotation = %v, %v; want the second CA", m.X509(), err)
	}

	// The source breaks: the last good material stays, the status says why.
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, pool, "kmp-files", "after the file broke", func(st keys.Status) bool { return !st.Success && st.Error != "" })
	if m, err := providers["kmp-files"].Material(ctx); err != nil || len(m.X509()) != 1 || !m.X509()[0].Equal(second.Cert) {
		t.Fatalf("material after the file broke = %v, %v; want the last good one", m.X509(), err)
	}

	// A changed declaration is a new provider.
	changed, err := BuildKeyProviders(filesConfig(t, dir, "1h"), BuildOptions{KeyPool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if changed["kmp-files"] == providers["kmp-files"] {
		t.Fatal("a changed declaration kept the old provider")
	}

	pool.Retain(nil)
	if _, ok := pool.Status("kmp-files"); ok {
		t.Fatal("a provider no longer declared is still pooled")
	}
	cancel()
	<-done // Run returns once the refreshes stopped
}

// TestDeferredKeyReferences checks that a composed configuration whose
// verifier names an undeclared provider builds with DeferKeyReferences,
// that the verifier's trust store then cannot serve
// (ErrTrustMaterialUnavailable), and that without it, as in config.json,
// such a reference is refused.
func TestDeferredKeyReferences(t *testing.T) {
	if _, err := Parse([]byte(withKeys(`{"ca": {"certs": ["kmp-later"]}}`, `[]`))); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("config.json naming an undeclared provider: %v, want ErrInvalidConfig", err)
	}
	kmp, root := inlineProvider(t, "kmp-later")
	declared, err := Parse([]byte(withKeys(`{"ca": {"certs": ["kmp-later"]}}`, `[`+kmp+`]`)))
	if err != nil {
		t.Fatal(err)
	}
	base, err := Parse([]byte(v1Config))
	if err != nil {
		t.Fatal(err)
	}
	verifiers := []json.RawMessage{declared.Verifier.Plugins[0]}
	if _, err := Compose(base, Parts{Verifiers: verifiers}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("composed without DeferKeyReferences: %v, want ErrInvalidConfig", err)
	}
	cfg, err := Compose(base, Parts{Verifiers: verifiers, DeferKeyReferences: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(cfg, BuildOptions{}); err != nil {
		t.Fatalf("Build with a deferred reference: %v", err)
	}
	stores := cfg.Verifier.Entries[0].Notation.VerificationCertStores
	ts, err := certStoresTrustStore(stores, map[string]keys.Provider{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.GetCertificates(context.Background(), truststore.TypeCA, "certs"); !errors.Is(err, errdef.ErrTrustMaterialUnavailable) {
		t.Fatalf("certificates of an undeclared provider: %v, want ErrTrustMaterialUnavailable", err)
	}

	// The provider arrives in the parts: its certificates are served.
	withKMP, err := Compose(base, Parts{Verifiers: verifiers, KeyProviders: []json.RawMessage{json.RawMessage(kmp)}, DeferKeyReferences: true})
	if err != nil {
		t.Fatal(err)
	}
	providers, err := BuildKeyProviders(withKMP, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts, err = certStoresTrustStore(stores, providers, true)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ts.GetCertificates(context.Background(), truststore.TypeCA, "certs")
	if err != nil || len(certs) != 1 || !certs[0].Equal(root.Cert) {
		t.Fatalf("certificates of the declared provider = %v, %v", certs, err)
	}
	// Parts may not repeat a declared name.
	if _, err := Compose(withKMP, Parts{KeyProviders: []json.RawMessage{json.RawMessage(kmp)}}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("a provider declared twice: %v, want ErrInvalidConfig", err)
	}
}
