package faults

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/openratify/ratify/auth/azure"
	"github.com/openratify/ratify/internal/entratest"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testredis"
	"github.com/openratify/ratify/internal/testregistry"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/azurekeyvault/kvtest"
)

// secrets collects the secret values a test's servers saw or issued, to
// look for them in logs.
type secrets struct {
	mu     sync.Mutex
	values map[string]string // value -> what it is
}

func (s *secrets) add(what, value string) {
	if len(value) < 8 { // too short to look for without false alarms
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values == nil {
		s.values = map[string]string{}
	}
	s.values[value] = what
	s.values[base64.StdEncoding.EncodeToString([]byte(value))] = what + " (base64)"
}

// addAuthorization records the secret of an Authorization header.
func (s *secrets) addAuthorization(h string) {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok {
		return
	}
	s.add(scheme+" credential", cred)
	if raw, err := base64.StdEncoding.DecodeString(cred); scheme == "Basic" && err == nil {
		if _, pass, ok := strings.Cut(string(raw), ":"); ok {
			s.add("basic password", pass)
		}
	}
}

// addForm records the secret fields of an OAuth form.
func (s *secrets) addForm(body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return
	}
	for _, k := range []string{"access_token", "refresh_token", "client_assertion", "client_secret", "password"} {
		s.add("form field "+k, form.Get(k))
	}
}

// addJSON records the token fields of a JSON answer.
func (s *secrets) addJSON(body []byte) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return
	}
	for _, k := range []string{"access_token", "refresh_token", "token", "id_token"} {
		if v, ok := m[k].(string); ok {
			s.add("issued "+k, v)
		}
	}
}

// leaked returns what of s appears in logs.
func (s *secrets) leaked(logs string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for v, what := range s.values {
		if strings.Contains(logs, v) {
			out = append(out, what)
		}
	}
	return out
}

// capturing is middleware recording, into s, the credentials requests
// carry and the tokens answers issue.
func (s *secrets) capturing(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.addAuthorization(r.Header.Get("Authorization"))
		body, _ := io.ReadAll(r.Body)
		s.addForm(body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &bodyRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.addJSON(rec.body.Bytes())
	})
}

type bodyRecorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (b *bodyRecorder) Write(p []byte) (int, error) {
	if b.body.Len() < 1<<16 {
		b.body.Write(p)
	}
	return b.ResponseWriter.Write(p)
}

// capturingTransport records, into s, what the Key Vault and Entra clients
// send and receive.
type capturingTransport struct {
	s    *secrets
	next policy.Transporter
}

func (c capturingTransport) Do(req *http.Request) (*http.Response, error) {
	c.s.addAuthorization(req.Header.Get("Authorization"))
	if req.Body != nil {
		body, _ := io.ReadAll(req.Body)
		c.s.addForm(body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := c.next.Do(req)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		c.s.addJSON(body)
	}
	return resp, err
}

// TestNoSecretInLogs runs the provider at debug level through every flow
// that handles a secret, succeeding and failing: docker config passwords
// (right and wrong), Azure workload identity (the federated token, the
// Entra token, ACR's refresh and access tokens), a Key Vault's Entra token
// and client assertion, and a Redis password and HMAC key read from files.
// No secret, nor its base64 form, appears in the logs. (Kubernetes pull
// Secrets: TestNoPullSecretInLogs.)
func TestNoSecretInLogs(t *testing.T) {
	noLeaks(t)
	var s secrets

	// A registry behind basic authentication, with the right password and a wrong one.
	basic := newFixture(t, testregistry.Options{Referrers: true, Username: "robot", Password: "docker-config-password-1", Handler: s.capturing})
	s.add("docker config password", "docker-config-password-1")
	s.add("wrong docker config password", "wrong-docker-password-2")
	docker := func(name, password string) string {
		auth := base64.StdEncoding.EncodeToString([]byte("robot:" + password))
		s.add("docker config auth", auth)
		path := filepath.Join(basic.dir, name)
		if err := os.WriteFile(path, []byte(`{"auths":{"`+basic.reg.Host()+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	right, wrong := docker("right.json", "docker-config-password-1"), docker("wrong.json", "wrong-docker-password-2")

	// A registry behind ACR's token service, reached with workload identity.
	const tenant, clientID, assertion = "72f988bf-0000-0000-0000-0000000000fb", "11111111-2222-3333-4444-5555555555fb", "federated-service-account-token-3"
	s.add("federated token", assertion)
	entra := entratest.NewEntra(entratest.EntraOptions{TenantID: tenant, ClientID: clientID, Assertion: assertion, Scope: azure.Scope})
	t.Cleanup(entra.Close)
	acr := entratest.NewACR(entratest.ACROptions{TenantID: tenant, Accept: entra.Valid})
	acrReg := newFixture(t, testregistry.Options{Referrers: true, TLS: true, Handler: func(next http.Handler) http.Handler {
		return s.capturing(acr.Wrap(next))
	}})
	acr.Enforce()
	capem := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: entra.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(acrReg.dir, "local-ca.pem"), capem, 0o600); err != nil {
		t.Fatal(err)
	}

	// A Key Vault holding the basic registry's CA, reached with workload
	// identity through the vault's own Entra.
	vault := kvtest.New()
	t.Cleanup(vault.Close)
	s.add("vault client secret", vault.ClientSecret)
	s.add("vault federated token", vault.Assertion)
	vault.AddSecret("ca", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(basic.ca.Cert)))

	// Redis with a password, and the HMAC key, in files.
	const redisPassword, hmacKey = "redis-password-4-xyz", "hmac-key-5-0123456789abcdef0123456789abcdef"
	s.add("redis password", redisPassword)
	s.add("hmac key", hmacKey)
	redis := testredis.Start(t, testredis.Options{Password: redisPassword})
	dir := t.TempDir()
	passwordFile, keyFile, wrongPasswordFile := filepath.Join(dir, "password"), filepath.Join(dir, "hmac"), filepath.Join(dir, "wrong")
	for path, v := range map[string]string{passwordFile: redisPassword + "\n", keyFile: hmacKey + "\n", wrongPasswordFile: "wrong-redis-password-6\n"} {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.add("wrong redis password", "wrong-redis-password-6")

	kv := azurekeyvault.Options{ClientOptions: policy.ClientOptions{Transport: capturingTransport{&s, vault.Client()}}}
	dockerStore := func(config string) map[string]any {
		return map[string]any{"name": "oras", "useHttp": true, "authProvider": map[string]any{"name": "dockerConfig", "configPath": config}}
	}
	for _, run := range []struct {
		name     string
		fixture  *fixture
		config   map[string]any // nil: baseConfig
		store    map[string]any // the store plugin
		env      func()
		password string
	}{
		{"docker config, right password", basic, nil, dockerStore(right), func() {}, passwordFile},
		{"docker config, wrong password; Redis, wrong password", basic, nil, dockerStore(wrong), func() {}, wrongPasswordFile},
		{"workload identity and ACR", acrReg, nil, map[string]any{"name": "oras",
			"registryCABundles": map[string]string{"127.0.0.1": filepath.Join(acrReg.dir, "local-ca.pem")},
			"authProvider":      map[string]any{"name": "azureWorkloadIdentity", "clientID": clientID, "tenantID": tenant, "endpoints": []string{acrReg.reg.Host()}},
		}, func() { workloadIdentity(t, entra.URL, assertion) }, passwordFile},
		{"Key Vault", basic, keyVaultConfig(vault, vault.Vault.URL), dockerStore(right), func() { workloadIdentity(t, vault.Entra.URL, vault.Assertion) }, passwordFile},
	} {
		f := run.fixture
		cfg := run.config
		if cfg == nil {
			cfg = baseConfig()
		}
		cfg["store"] = map[string]any{"plugins": []any{run.store}}
		run.env()
		p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg), KeyVault: kv,
			Redis: server.RedisOptions{Addr: redis.Addr, PasswordFile: run.password, HMACKeyFile: keyFile}})
		a := p.post(t, "verify", f.ref("app/signed", f.signed), "[team-a]"+f.reg.Host()+"/app/signed:v1")
		p.post(t, "mutate", f.reg.Host()+"/app/signed:v1")
		p.Stop(t)
		for _, it := range a.Items {
			t.Logf("%s: %s: %.200s %s", run.name, it.Key, it.Value, it.Error)
		}
		if leaked := s.leaked(p.Logs.String()); len(leaked) > 0 {
			t.Errorf("%s: the logs hold %v:\n%s", run.name, leaked, p.Logs.String())
		}
	}
	if len(s.values) < 16 {
		t.Fatalf("only %d secrets were seen: the flows did not run", len(s.values))
	}
}

// fakeKubeAPI serves the Kubernetes API reads of the k8Secrets provider:
// Secrets and ServiceAccounts of namespace "ratify", from objects.
func fakeKubeAPI(t *testing.T, objects map[string]any) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obj, ok := objects[r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(obj)
	}))
	t.Cleanup(srv.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	data := "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: " + srv.URL +
		"\nusers:\n- name: fake\n  user:\n    token: kube-api-bearer-token-7\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\n"
	if err := os.WriteFile(kubeconfig, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

// TestNoPullSecretInLogs runs `ratify serve` (the container image's build,
// -tags k8s) at debug level with the k8Secrets auth provider, reading
// dockerconfigjson pull Secrets from a (local) Kubernetes API: a right
// credential for one registry and a wrong one for another, which makes
// ratify re-read the Secrets. Neither password, auth string nor the API
// token appears in its logs.
func TestNoPullSecretInLogs(t *testing.T) {
	noLeaks(t)
	bin, err := testratify.Build("k8s")
	if err != nil {
		t.Fatal(err)
	}
	var s secrets
	good := newFixture(t, testregistry.Options{Referrers: true, Username: "puller", Password: "pull-secret-password-8"})
	bad := newFixture(t, testregistry.Options{Referrers: true, Username: "puller", Password: "the-right-one-9"})
	s.add("kube API token", "kube-api-bearer-token-7")
	auths := map[string]any{}
	for host, password := range map[string]string{good.reg.Host(): "pull-secret-password-8", bad.reg.Host(): "wrong-pull-password-10"} {
		s.add("pull secret password", password)
		auth := base64.StdEncoding.EncodeToString([]byte("puller:" + password))
		s.add("pull secret auth", auth)
		auths[host] = map[string]string{"auth": auth}
	}
	dockerconfig, _ := json.Marshal(map[string]any{"auths": auths})
	kubeconfig := fakeKubeAPI(t, map[string]any{
		"/api/v1/namespaces/ratify/secrets/pull": map[string]any{"kind": "Secret", "apiVersion": "v1",
			"metadata": map[string]any{"name": "pull", "namespace": "ratify"}, "type": "kubernetes.io/dockerconfigjson",
			"data": map[string]any{".dockerconfigjson": base64.StdEncoding.EncodeToString(dockerconfig)}},
		"/api/v1/namespaces/ratify/serviceaccounts/default": map[string]any{"kind": "ServiceAccount", "apiVersion": "v1",
			"metadata": map[string]any{"name": "default", "namespace": "ratify"}, "imagePullSecrets": []any{map[string]string{"name": "pull"}}},
	})
	cfg := baseConfig()
	storePlugin(cfg)["authProvider"] = map[string]any{"name": "k8Secrets"}
	n := cfg["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)
	n["verificationCerts"] = []string{caDir(t, good.ca), caDir(t, bad.ca)}
	path := writeConfig(t, good.dir, cfg)
	env := append(testratify.Env(t), "KUBECONFIG="+kubeconfig, "RATIFY_NAMESPACE=ratify")
	srv := testratify.ServeEnv(t, env, bin, "serve", "-c", path, "--http", "127.0.0.1:0", "--health-port", "127.0.0.1:0",
		"--metrics-enabled=false", "--log-level", "debug")
	p := &provider{URL: "http://" + srv.Provider, client: &http.Client{Timeout: generous, Transport: &http.Transport{}}}
	defer p.client.CloseIdleConnections()
	a := p.post(t, "verify", good.ref("app/signed", good.signed), bad.ref("app/signed", bad.signed), bad.reg.Host()+"/app/signed:v1")
	if !a.Items[0].result(t).IsSuccess || a.Items[1].Error == "" || a.Items[2].Error == "" {
		t.Fatalf("answers %+v: want the right credential to pass and the wrong one to be refused", a)
	}
	srv.Stop(t)
	if leaked := s.leaked(srv.Log()); len(leaked) > 0 {
		t.Errorf("the logs hold %v:\n%s", leaked, srv.Log())
	}
}
