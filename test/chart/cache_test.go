package chart

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testredis"
)

// defaultArgsTo are the Deployment's default arguments up to --cache-ttl,
// after which the cache, tag cache and tracing values add theirs.
var defaultArgsTo = []string{"serve", "--http", ":6001", "-c", "/usr/local/ratify/config.json", "--enable-crd-manager",
	"--cert-dir", "/usr/local/tls", "--ca-cert-file", "/usr/local/tls/client-ca/ca.crt",
	"--health-port=:9099", "--metrics-enabled=true", "--metrics-type=prometheus", "--metrics-port=8888",
	"--cache-enabled=true"}

// volume returns the pod's volume name and the container's mount of it.
func volume(t *testing.T, d *appsv1.Deployment, c corev1.Container, name string) (*corev1.Volume, *corev1.VolumeMount) {
	t.Helper()
	var v *corev1.Volume
	for i := range d.Spec.Template.Spec.Volumes {
		if d.Spec.Template.Spec.Volumes[i].Name == name {
			v = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	var vm *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == name {
			vm = &c.VolumeMounts[i]
		}
	}
	return v, vm
}

// TestRedisCacheValues: provider.cache.type=redis renders the shared cache's
// flags, which ratify accepts, with the HMAC key of the Secret the chart
// makes and the user's Redis password mounted read-only where the flags
// name them, for every replica.
func TestRedisCacheValues(t *testing.T) {
	m := render(t, "--set", "replicaCount=3", "--set", "provider.cache.type=redis",
		"--set", "provider.cache.redis.address=redis-master.redis:6379",
		"--set", "provider.cache.redis.passwordSecret.name=redis",
		"--set", "provider.cache.redis.timeout=250ms",
		"--set", "provider.cache.negativeTtl=1s", "--set", "provider.cache.staleTtl=5m",
		"--set", "oras.cache.staleTtl=2m", "--set", "oras.cache.referrersStaleTtl=-1s")
	d, c := deployment(t, m)
	wantArgs := append(slices.Clone(defaultArgsTo), "--cache-type=redis", "--cache-size=256", "--cache-ttl=10s",
		"--cache-address=redis-master.redis:6379", "--cache-hmac-key-file=/usr/local/ratify-cache/hmac-key",
		"--cache-password-file=/usr/local/ratify-cache/password", "--cache-redis-timeout=250ms",
		"--cache-negative-ttl=1s", "--cache-stale-ttl=5m", "--tag-cache-ttl=5s", "--tag-cache-stale-ttl=2m", "--referrers-cache-stale-ttl=-1s", "--log-level=info")
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q\nwant %q", c.Args, wantArgs)
	}
	checkServeAccepts(t, c.Args)
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
	}

	v, vm := volume(t, d, c, "cache-secrets")
	if vm == nil || vm.MountPath != "/usr/local/ratify-cache" || !vm.ReadOnly {
		t.Errorf("cache-secrets mount %+v, want /usr/local/ratify-cache read-only", vm)
	}
	want := []corev1.VolumeProjection{
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "ratify-cache-hmac"},
			Items: []corev1.KeyToPath{{Key: "hmac-key", Path: "hmac-key"}}}},
		{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "redis"},
			Items: []corev1.KeyToPath{{Key: "redis-password", Path: "password"}}}},
	}
	if v == nil || v.Projected == nil || !reflect.DeepEqual(v.Projected.Sources, want) {
		t.Errorf("cache-secrets volume %+v\nwant the projected sources %+v", v, want)
	}

	key := hmacKey(t, m)
	if len(key) != 64 || strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		t.Errorf("generated HMAC key %q: want 64 letters and digits", key)
	}
	// Without a cluster (helm template) lookup finds no Secret to keep, so
	// each render makes a new key: the reason values.yaml tells GitOps users
	// to give their own Secret. Upgrades keep it (test/admission).
	if again := hmacKey(t, render(t, "--set", "provider.cache.type=redis", "--set", "provider.cache.redis.address=r:6379")); again == key {
		t.Error("two renders made the same HMAC key")
	}
}

// hmacKey returns the HMAC key of the Secret ratify-cache-hmac of m.
func hmacKey(t *testing.T, m manifest) string {
	t.Helper()
	var s corev1.Secret
	decode(t, m.find(t, "Secret", "ratify-cache-hmac"), &s)
	if len(s.Data) != 1 {
		t.Errorf("Secret ratify-cache-hmac holds %d keys, want hmac-key only", len(s.Data))
	}
	return string(s.Data["hmac-key"])
}

// TestRedisCacheOwnSecret: an HMAC key Secret of the user's is mounted
// instead of one the chart makes; without a password Secret no password
// file is passed; the defaults render no part of the shared cache.
func TestRedisCacheOwnSecret(t *testing.T) {
	m := render(t, "--set", "provider.cache.type=redis", "--set", "provider.cache.redis.address=10.0.0.7:6380",
		"--set", "provider.cache.redis.hmacKeySecret.name=shared-hmac", "--set", "provider.cache.redis.hmacKeySecret.key=key")
	d, c := deployment(t, m)
	wantArgs := append(slices.Clone(defaultArgsTo), "--cache-type=redis", "--cache-size=256", "--cache-ttl=10s",
		"--cache-address=10.0.0.7:6380", "--cache-hmac-key-file=/usr/local/ratify-cache/hmac-key",
		"--tag-cache-ttl=5s", "--log-level=info")
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q\nwant %q", c.Args, wantArgs)
	}
	checkServeAccepts(t, c.Args)
	if m.has("Secret", "ratify-cache-hmac") {
		t.Error("the chart made an HMAC key Secret although hmacKeySecret.name names one")
	}
	v, _ := volume(t, d, c, "cache-secrets")
	want := []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{
		LocalObjectReference: corev1.LocalObjectReference{Name: "shared-hmac"},
		Items:                []corev1.KeyToPath{{Key: "key", Path: "hmac-key"}}}}}
	if v == nil || v.Projected == nil || !reflect.DeepEqual(v.Projected.Sources, want) {
		t.Errorf("cache-secrets volume %+v\nwant the projected sources %+v", v, want)
	}

	m = render(t)
	d, c = deployment(t, m)
	if v, vm := volume(t, d, c, "cache-secrets"); v != nil || vm != nil || m.has("Secret", "ratify-cache-hmac") {
		t.Errorf("the defaults render the shared cache: volume %+v, mount %+v", v, vm)
	}
}

// TestRedisCacheTLSValues: provider.cache.redis.tls renders
// --cache-redis-tls and, with caSecret, mounts the CA of the user's Secret
// read-only where --cache-redis-ca-file names it; ratify accepts both and,
// run as its pod would (chartServe), stores results in a Redis that speaks
// TLS only. tls.enabled alone trusts the system's roots: no CA is mounted.
func TestRedisCacheTLSValues(t *testing.T) {
	im := newImages(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, im.rootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	redisTLS := testredis.NewTLS(t)
	redisCA := must(os.ReadFile(redisTLS.CAFile))(t)
	rds := testredis.Start(t, testredis.Options{TLS: redisTLS})
	m := render(t, "--set-file", "notationCerts[0]="+caFile, "--set", "oras.useHttp=true",
		"--set", "provider.cache.type=redis", "--set", "provider.cache.redis.address="+rds.Addr,
		"--set", "provider.cache.redis.timeout=1s", "--set", "provider.cache.redis.tls.enabled=true",
		"--set", "provider.cache.redis.tls.caSecret.name=redis-ca", "--set", "provider.cache.redis.tls.caSecret.key=ca.pem")
	d, c := deployment(t, m)
	at := slices.Index(c.Args, "--cache-hmac-key-file=/usr/local/ratify-cache/hmac-key")
	want := []string{"--cache-redis-tls", "--cache-redis-ca-file=/usr/local/ratify-cache/redis-ca.crt", "--cache-redis-timeout=1s"}
	if at < 0 || len(c.Args) < at+1+len(want) || !slices.Equal(c.Args[at+1:at+1+len(want)], want) {
		t.Errorf("args %q\nwant %q after the HMAC key file", c.Args, want)
	}
	checkServeAccepts(t, c.Args)
	v, vm := volume(t, d, c, "cache-secrets")
	if vm == nil || vm.MountPath != "/usr/local/ratify-cache" || !vm.ReadOnly {
		t.Errorf("cache-secrets mount %+v, want /usr/local/ratify-cache read-only", vm)
	}
	caSource := corev1.VolumeProjection{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-ca"},
		Items: []corev1.KeyToPath{{Key: "ca.pem", Path: "redis-ca.crt"}}}}
	if v == nil || v.Projected == nil || !slices.ContainsFunc(v.Projected.Sources, func(p corev1.VolumeProjection) bool { return reflect.DeepEqual(p, caSource) }) {
		t.Errorf("cache-secrets volume %+v\nlacks the projected source %+v", v, caSource)
	}

	srv := chartServe(t, writePodFiles(t, m), m, map[string]map[string][]byte{"redis-ca": {"ca.pem": redisCA}})
	if !providerVerify(t, srv, im.signed(t, "app", "v1", im.signer)) {
		t.Fatalf("the replica did not pass the signed image:\n%s", srv.Log())
	}
	resp, err := http.Get("http://" + srv.Metrics(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if metrics := string(must(io.ReadAll(resp.Body))(t)); !strings.Contains(metrics, `ratify_shared_cache_count{op="set",outcome="stored"}`) {
		t.Errorf("the replica stored nothing in Redis over TLS:\n%s\n%s", metrics, srv.Log())
	}

	d, c = deployment(t, render(t, "--set", "provider.cache.type=redis", "--set", "provider.cache.redis.address=r.redis.cache.windows.net:6380",
		"--set", "provider.cache.redis.tls.enabled=true"))
	if !slices.Contains(c.Args, "--cache-redis-tls") || slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--cache-redis-ca-file") }) {
		t.Errorf("tls.enabled alone: args %q, want --cache-redis-tls and no CA file", c.Args)
	}
	if v, _ := volume(t, d, c, "cache-secrets"); v == nil || v.Projected == nil || len(v.Projected.Sources) != 1 {
		t.Errorf("tls.enabled alone: cache-secrets volume %+v, want the HMAC key only", v)
	}
}

// TestV1DaprValues: Ratify v1's high-availability values (a Dapr state
// store) fail the install with what to set instead, and the values the
// message names, added to the same file, render a release ratify accepts.
// The v1 feature flag alone changes nothing but its variable.
func TestV1DaprValues(t *testing.T) {
	out, err := helmTemplate(t, "-f", "testdata/v1-dapr-values.yaml")
	if err == nil {
		t.Fatalf("Ratify v1's dapr cache rendered:\n%.500s", out)
	}
	for _, want := range []string{"provider.cache.type=dapr", `"dapr-redis"`, "provider.cache.type=redis",
		"provider.cache.redis.address=HOST:PORT", "provider.cache.type=ristretto"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nsays nothing of %s", err, want)
		}
	}
	m := render(t, "-f", "testdata/v1-dapr-values.yaml", "--set", "provider.cache.type=redis",
		"--set", "provider.cache.redis.address=redis-master.redis:6379")
	d, c := deployment(t, m)
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--cache-type=redis", "--cache-address=redis-master.redis:6379", "--cache-name=dapr-redis"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	checkServeAccepts(t, c.Args)
	if *d.Spec.Replicas != 2 || !m.has("Secret", "ratify-cache-hmac") {
		t.Errorf("replicas %d, HMAC Secret rendered %v", *d.Spec.Replicas, m.has("Secret", "ratify-cache-hmac"))
	}

	_, c = deployment(t, render(t, "--set", "featureFlags.RATIFY_EXPERIMENTAL_HIGH_AVAILABILITY=true"))
	if !slices.Contains(c.Args, "--cache-type=ristretto") ||
		!slices.Contains(c.Env, corev1.EnvVar{Name: "RATIFY_EXPERIMENTAL_HIGH_AVAILABILITY", Value: "1"}) {
		t.Errorf("args %q env %+v", c.Args, c.Env)
	}
}

// TestTracingValues: instrumentation.tracing renders the OTLP endpoint flag
// and protocol variable, which ratify accepts; the defaults render neither.
func TestTracingValues(t *testing.T) {
	_, c := deployment(t, render(t, "--set", "instrumentation.tracing.otlpEndpoint=http://otel-collector.observability:4317",
		"--set", "instrumentation.tracing.protocol=grpc"))
	if got := c.Args[len(c.Args)-1]; got != "--tracing-otlp-endpoint=http://otel-collector.observability:4317" {
		t.Errorf("last argument %q, want the OTLP endpoint", got)
	}
	if !slices.Contains(c.Env, corev1.EnvVar{Name: "OTEL_EXPORTER_OTLP_PROTOCOL", Value: "grpc"}) {
		t.Errorf("env %+v lacks OTEL_EXPORTER_OTLP_PROTOCOL=grpc", c.Env)
	}
	checkServeAccepts(t, c.Args)

	_, c = deployment(t, render(t))
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "OTEL_") {
			t.Errorf("the defaults set %s", e.Name)
		}
	}
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--tracing") }) {
		t.Errorf("the defaults pass %q", c.Args)
	}
}

// TestReplicasShareResultsThroughRedis runs two replicas of a rendered
// release, each as its pod would run (chartServe), on one real Redis with a
// password: the second answers an image the first verified without asking
// the registry. A replica of the same values rendered again without a
// cluster (same config.json, but the chart made another HMAC key) does not
// trust those results and verifies again.
func TestReplicasShareResultsThroughRedis(t *testing.T) {
	im := newImages(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, im.rootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const password = "the-user's redis password"
	rds := testredis.Start(t, testredis.Options{Password: password})
	userSecrets := map[string]map[string][]byte{"redis-auth": {"redis-password": []byte(password + "\n")}}
	sets := []string{"--set-file", "notationCerts[0]=" + caFile, "--set", "oras.useHttp=true", "--set", "replicaCount=2",
		"--set", "provider.cache.type=redis", "--set", "provider.cache.redis.address=" + rds.Addr,
		"--set", "provider.cache.redis.passwordSecret.name=redis-auth"}
	release := render(t, sets...)
	files := writePodFiles(t, release)
	signed := im.signed(t, "app", "v1", im.signer)

	first := chartServe(t, files, release, userSecrets)
	if !providerVerify(t, first, signed) {
		t.Fatalf("the first replica did not pass the signed image:\n%s", first.Log())
	}
	if im.reg.Total() == 0 {
		t.Fatal("the first replica verified without the registry")
	}
	im.reg.Reset()
	second := chartServe(t, files, release, userSecrets)
	if !providerVerify(t, second, signed) {
		t.Fatalf("the second replica did not pass the signed image:\n%s", second.Log())
	}
	if n := im.reg.Total(); n != 0 {
		t.Errorf("the second replica made %d registry requests (%v); want the first one's result from Redis", n, im.reg.Counts())
	}

	im.reg.Reset()
	rerendered := render(t, sets...)
	if a, b := str(release.find(t, "ConfigMap", "ratify-configuration"), "data", "config.json"),
		str(rerendered.find(t, "ConfigMap", "ratify-configuration"), "data", "config.json"); a != b {
		t.Fatalf("the same values rendered another config.json:\n%s\n%s", a, b)
	}
	if hmacKey(t, rerendered) == hmacKey(t, release) {
		t.Fatal("the render made the same HMAC key")
	}
	other := chartServe(t, files, rerendered, userSecrets)
	if !providerVerify(t, other, signed) {
		t.Fatalf("the replica with another key did not pass the signed image:\n%s", other.Log())
	}
	if im.reg.Total() == 0 {
		t.Error("a replica with another HMAC key trusted a result sealed with the first key")
	}
}

// TestTracingExports runs a rendered release with
// instrumentation.tracing.otlpEndpoint as its pod would (chartServe): the
// spans of a verification reach the collector at that URL (OTLP over HTTP,
// POST /v1/traces) by the time ratify has stopped.
func TestTracingExports(t *testing.T) {
	received := make(chan string, 64)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case received <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type"):
		default:
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	im := newImages(t)
	release := render(t, "--set", "oras.useHttp=true", "--set", "instrumentation.tracing.otlpEndpoint="+collector.URL)
	srv := chartServe(t, writePodFiles(t, release), release, nil)
	if providerVerify(t, srv, im.unsigned(t, "app", "v1")) {
		t.Error("an unsigned image passed")
	}
	srv.Stop(t) // flushes the spans still queued
	select {
	case got := <-received:
		if got != "POST /v1/traces application/x-protobuf" {
			t.Errorf("the collector received %q", got)
		}
	default:
		t.Errorf("the collector received nothing:\n%s", srv.Log())
	}
}

// podFiles are config.json and the notation certificates of a release, as
// newPod writes them, written once: replicas started from the same files run
// the same configuration, as the pods of a Deployment do (ratify keys the
// results it shares by config.json's digest, paths included).
type podFiles struct {
	config string
}

func writePodFiles(t *testing.T, m manifest) *podFiles {
	t.Helper()
	config := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(config, newPod(t, m).ConfigJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	return &podFiles{config: config}
}

// chartServe runs ratify, built as the container image is, with the
// arguments and literal environment of the Deployment of m, as its pod
// would: config.json and the notation certificates from files, the
// cache-secrets volume's files from the Secrets of m and from userSecrets
// (the Secrets a user creates, by name and key). It listens on loopback in
// plain HTTP (no --cert-dir: TestProviderTLS* check TLS) and without the
// CRD manager, which needs an API server (test/admission runs the chart's
// Deployment with it).
func chartServe(t *testing.T, files *podFiles, m manifest, userSecrets map[string]map[string][]byte) *testratify.Server {
	t.Helper()
	dir := t.TempDir()
	config := files.config
	d, c := deployment(t, m)
	paths := map[string]string{}
	if v, vm := volume(t, d, c, "cache-secrets"); v != nil {
		local := filepath.Join(dir, "cache-secrets")
		projectSecrets(t, m, v.Projected.Sources, userSecrets, local)
		paths[vm.MountPath+"/"] = local + "/"
	}
	var args []string
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--enable-crd-manager":
		case "--cert-dir", "--ca-cert-file":
			i++ // and its value
		case "-c":
			args = append(args, a, config)
			i++
		case "--http":
			args = append(args, a, "127.0.0.1:0")
			i++
		case "--health-port", "--metrics-port":
			args = append(args, name+"=127.0.0.1:0")
		default:
			for from, to := range paths {
				a = strings.Replace(a, "="+from, "="+to, 1)
			}
			args = append(args, a)
		}
	}
	env := testratify.Env(t)
	for _, e := range c.Env {
		if e.ValueFrom == nil && e.Name != "XDG_CACHE_HOME" {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	bin, err := testratify.Build("k8s")
	if err != nil {
		t.Fatalf("build ratify: %v", err)
	}
	return testratify.ServeEnv(t, env, bin, args...)
}

// projectSecrets writes the items of the projected volume's Secret sources
// into dir as the kubelet does, taking each Secret from m or, when the
// chart does not make it, from userSecrets.
func projectSecrets(t *testing.T, m manifest, sources []corev1.VolumeProjection, userSecrets map[string]map[string][]byte, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, src := range sources {
		if src.Secret == nil {
			t.Fatalf("projected source %+v is not a Secret", src)
		}
		data, ok := userSecrets[src.Secret.Name]
		if m.has("Secret", src.Secret.Name) {
			var s corev1.Secret
			decode(t, m.find(t, "Secret", src.Secret.Name), &s)
			data, ok = s.Data, true
		}
		if !ok {
			t.Fatalf("the pod mounts the Secret %s, which neither the chart nor the test makes", src.Secret.Name)
		}
		for _, item := range src.Secret.Items {
			value, ok := data[item.Key]
			if !ok {
				t.Fatalf("the Secret %s has no key %s", src.Secret.Name, item.Key)
			}
			if err := os.WriteFile(filepath.Join(dir, item.Path), value, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// providerVerify asks srv, as Gatekeeper does, to verify subject and
// reports whether it passed; an item error counts as not passing.
func providerVerify(t *testing.T, srv *testratify.Server, subject string) bool {
	t.Helper()
	body := must(json.Marshal(map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": []string{subject}},
	}))(t)
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
		t.Fatalf("verify response %s: %v %+v", resp.Status, err, out)
	}
	item := out.Response.Items[0]
	if item.Error != "" {
		t.Logf("%s: %s", subject, item.Error)
	}
	return item.Error == "" && item.Value.IsSuccess
}
