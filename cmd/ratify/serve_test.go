package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testredis"
	"github.com/openratify/ratify/internal/testregistry"
)

func TestServeCacheFlagsChecked(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	for name, args := range map[string][]string{
		"dapr":                 {"--cache-type", "dapr", "--cache-name", "dapr-redis"},
		"unknown type":         {"--cache-type", "memcached"},
		"redis, no address":    {"--cache-type", "redis", "--cache-hmac-key-file", key},
		"redis, no key":        {"--cache-type", "redis", "--cache-address", "127.0.0.1:6379"},
		"redis, caching off":   {"--cache-type", "redis", "--cache-address", "127.0.0.1:6379", "--cache-hmac-key-file", key, "--cache-enabled=false"},
		"redis, slow timeout":  {"--cache-type", "redis", "--cache-address", "127.0.0.1:6379", "--cache-hmac-key-file", key, "--cache-redis-timeout", "2s"},
		"address, memory type": {"--cache-address", "127.0.0.1:6379"},
		"TLS, memory type":     {"--cache-redis-tls"},
		"CA file, memory type": {"--cache-type", "memory", "--cache-redis-ca-file", key},
		"stale window":         {"--cache-stale-ttl", "11m"},
	} {
		cmd := newServeCommand()
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.ExecuteContext(context.Background()); !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		} else if name == "dapr" && !strings.Contains(err.Error(), "--cache-type redis") {
			t.Errorf("dapr: %q does not say what to use instead", err)
		}
	}
}

// TestServeSharesResultsThroughRedis runs two `ratify serve` processes on
// one Redis, over TLS with a password as managed Redis services want: the
// second answers an image the first verified without a request to the
// registry.
func TestServeSharesResultsThroughRedis(t *testing.T) {
	bin, err := testratify.Build()
	if err != nil {
		t.Fatal(err)
	}
	reg := testregistry.New(t, testregistry.Options{Referrers: true})
	ca, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	image := reg.PushImage(t, "app/signed", "v1")
	reg.Sign(t, "app/signed", image, leaf)
	subject := reg.Host() + "/app/signed@" + image.Digest.String()
	config := testratify.WriteConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{ca.Cert}})
	redisTLS := testredis.NewTLS(t)
	rds := testredis.Start(t, testredis.Options{Password: "redis-password", TLS: redisTLS})
	dir := t.TempDir()
	key, password := filepath.Join(dir, "hmac-key"), filepath.Join(dir, "password")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(password, []byte("redis-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := func() *testratify.Server {
		return testratify.Serve(t, bin, "serve", "--http", "127.0.0.1:0", "--health-port", "127.0.0.1:0",
			"--metrics-port", "127.0.0.1:0", "-c", config, "--cache-type", "redis", "--cache-address", rds.Addr,
			"--cache-password-file", password, "--cache-hmac-key-file", key,
			"--cache-redis-tls", "--cache-redis-ca-file", redisTLS.CAFile, "--cache-redis-timeout", "1s")
	}

	first := serve()
	if !verifyThrough(t, first, subject) {
		t.Fatalf("the first server did not pass the signed image:\n%s", first.Log())
	}
	if reg.Total() == 0 {
		t.Fatal("the first server verified without the registry")
	}
	reg.Reset()
	second := serve()
	if !verifyThrough(t, second, subject) {
		t.Fatalf("the second server did not pass the signed image:\n%s", second.Log())
	}
	if n := reg.Total(); n != 0 {
		t.Errorf("the second server made %d registry requests (%v); want the first one's verdict from Redis", n, reg.Counts())
	}
	metrics := get(t, "http://"+second.Metrics(t)+"/metrics")
	if !strings.Contains(metrics, `ratify_shared_cache_count{op="get",outcome="hit"} 1`) {
		t.Errorf("the second server's metrics lack the shared hit:\n%s", metrics)
	}
}

// verifyThrough asks srv to verify subject and reports whether it passed.
func verifyThrough(t *testing.T, srv *testratify.Server, subject string) bool {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": []string{subject}},
	})
	resp, err := http.Post("http://"+srv.Provider+"/ratify/gatekeeper/v1/verify", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Response struct {
			Items []struct {
				Value struct {
					IsSuccess bool `json:"isSuccess"`
				} `json:"value"`
				Error string `json:"error"`
			} `json:"items"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Response.Items) != 1 {
		t.Fatalf("verify response: %v %+v", err, out)
	}
	it := out.Response.Items[0]
	if it.Error != "" {
		t.Logf("item error: %s", it.Error)
	}
	return it.Error == "" && it.Value.IsSuccess
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
