package chart

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/config"
)

// podCertDir is where the pod finds the notation certificates; pod is a
// rendered release as its pod would see it, with the notation certificates'
// Secret volume written to CertDir (as the kubelet projects its items).
const podCertDir = "/usr/local/ratify-certs/notation"

type pod struct {
	ConfigJSON []byte // config.json, its certificate paths pointing at CertDir
	CertDir    string
	m          manifest
}

// newPod materializes what the pod of release m reads from disk.
func newPod(t *testing.T, m manifest) *pod {
	t.Helper()
	var cm corev1.ConfigMap
	decode(t, m.find(t, "ConfigMap", "ratify-configuration"), &cm)
	var secret corev1.Secret
	decode(t, m.find(t, "Secret", "ratify-notation-certs"), &secret)
	d, _ := deployment(t, m)
	p := &pod{CertDir: t.TempDir(), m: m}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name != "notation-certs" {
			continue
		}
		for _, item := range v.Secret.Items {
			data, ok := secret.Data[item.Key]
			if !ok {
				t.Fatalf("volume item %s: the Secret has no key %s", item.Path, item.Key)
			}
			path := filepath.Join(p.CertDir, filepath.FromSlash(item.Path))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.ConfigJSON = p.local([]byte(cm.Data["config.json"]))
	return p
}

// local rewrites the pod's certificate directory in JSON to CertDir.
func (p *pod) local(data []byte) []byte {
	return []byte(strings.ReplaceAll(string(data), `"`+podCertDir+`"`, `"`+p.CertDir+`"`))
}

// base parses config.json as ratify does.
func (p *pod) base(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse(p.ConfigJSON)
	if err != nil {
		t.Fatalf("config.json: %v\n%s", err, p.ConfigJSON)
	}
	return cfg
}

// parts returns the rendered Store, Verifiers and Policy as config.json
// entries, the way Ratify v1 (and internal/k8s) turn a resource into one:
// the fields of spec.parameters joined by name (and type, artifactTypes).
func (p *pod) parts(t *testing.T) config.Parts {
	t.Helper()
	var parts config.Parts
	entry := func(params []byte, fields map[string]any) json.RawMessage {
		all := map[string]any{}
		if len(params) > 0 {
			if err := json.Unmarshal(params, &all); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range fields {
			all[k] = v
		}
		return p.local(must(json.Marshal(all))(t))
	}
	for _, name := range p.m.ofKind("Verifier") {
		var v v1beta1.Verifier
		decode(t, p.m.find(t, "Verifier", name), &v)
		parts.Verifiers = append(parts.Verifiers, entry(v.Spec.Parameters.Raw, map[string]any{"name": v.Spec.Name, "artifactTypes": v.Spec.ArtifactTypes}))
	}
	var s v1beta1.Store
	decode(t, p.m.find(t, "Store", "store-oras"), &s)
	parts.Stores = []json.RawMessage{entry(s.Spec.Parameters.Raw, map[string]any{"name": s.Spec.Name})}
	var pol v1beta1.Policy
	decode(t, p.m.find(t, "Policy", v1beta1.PolicyName), &pol)
	names := map[string]string{"config-policy": "configPolicy", "rego-policy": "regoPolicy"}
	parts.Policy = entry(pol.Spec.Parameters.Raw, map[string]any{"name": names[pol.Spec.Type]})
	return parts
}

// build builds cfg as ratify serve does.
func build(t *testing.T, cfg *config.Config) *ratify.Executor {
	t.Helper()
	exec, err := config.Build(cfg, config.BuildOptions{CRLCacheDir: t.TempDir()})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return exec
}

// verify returns whether exec admits reference, failing t when no verdict
// could be reached.
func verify(t *testing.T, exec *ratify.Executor, reference string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := exec.Verify(ctx, reference, ratify.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify %s: %v", reference, err)
	}
	return res.IsSuccess
}

// TestConfigJSONDefaults: the default config.json is one ratify loads and
// builds on its own, with the executor deadlines 100 ms under the
// Providers' timeouts, and, with no certificate given, trusts nothing: a
// validly signed image is refused until a certificate is configured.
func TestConfigJSONDefaults(t *testing.T) {
	p := newPod(t, render(t, "--set", "oras.useHttp=true"))
	cfg := p.base(t)
	if v, m := cfg.Executor.VerificationTimeout(), cfg.Executor.MutationTimeout(); v != 4900*time.Millisecond || m != 1900*time.Millisecond {
		t.Errorf("executor timeouts %v, %v; want 4.9s and 1.9s (Providers' 5 and 2 s less 100 ms)", v, m)
	}
	if !cfg.CRL.CacheEnabled() || cfg.Logger.Formatter != "text" || len(cfg.Logger.RequestHeaders.TraceIDHeaderName) != 0 {
		t.Errorf("crl %+v logger %+v", cfg.CRL, cfg.Logger)
	}
	im := newImages(t)
	for _, exec := range []*ratify.Executor{build(t, cfg), build(t, must(config.Compose(cfg, p.parts(t)))(t))} {
		if verify(t, exec, im.signed(t, "app", "v1", im.signer)) {
			t.Error("an install with no certificate admits a signed image")
		}
	}
}

// TestConfigJSONValues: logger.*, crl.cache and provider.timeout.* reach
// config.json.
func TestConfigJSONValues(t *testing.T) {
	cfg := newPod(t, render(t, "--set", "logger.formatter=json", "--set", "logger.requestHeaders.traceIDHeaderName[0]=x-ms-correlation-request-id",
		"--set", "crl.cache.enabled=false", "--set", "provider.timeout.validationTimeoutSeconds=10",
		"--set", "provider.timeout.mutationTimeoutSeconds=3")).base(t)
	if v, m := cfg.Executor.VerificationTimeout(), cfg.Executor.MutationTimeout(); v != 9900*time.Millisecond || m != 2900*time.Millisecond {
		t.Errorf("executor timeouts %v, %v; want 9.9s and 2.9s", v, m)
	}
	if cfg.CRL.CacheEnabled() || cfg.Logger.Formatter != "json" ||
		strings.Join(cfg.Logger.RequestHeaders.TraceIDHeaderName, ",") != "x-ms-correlation-request-id" {
		t.Errorf("crl %+v logger %+v", cfg.CRL, cfg.Logger)
	}
}

// TestNotationCertsVerify: the quick start's values (a root CA in
// notationCerts[0], a trust policy for one repository and one signer
// subject) make ratify admit exactly the images of that repository signed
// by that signer, with config.json alone and with the resources composed
// over it as the CRD manager does.
func TestNotationCertsVerify(t *testing.T) {
	im := newImages(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, im.rootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	args := setArgs(t, "quickstart-notation-certs.set", map[string]string{
		"CA_PEM":  caFile,
		"REPO":    im.reg.Host() + "/net-monitor",
		"SUBJECT": strings.ReplaceAll(im.signer.Cert.Subject.String(), ",", `\,`),
	})
	p := newPod(t, render(t, append(args, "--set", "oras.useHttp=true")...))
	base := p.base(t)
	composed := must(config.Compose(base, p.parts(t)))(t)
	signed := im.signed(t, "net-monitor", "v1", im.signer)
	other := im.signed(t, "other", "v1", im.signer)
	byStranger := im.signed(t, "net-monitor", "v2", im.newSigner(t, "Someone Else"))
	unsigned := im.unsigned(t, "net-monitor", "v3")
	for name, exec := range map[string]*ratify.Executor{"config.json": build(t, base), "resources": build(t, composed)} {
		for ref, want := range map[string]bool{signed: true, other: false, byStranger: false, unsigned: false} {
			if got := verify(t, exec, ref); got != want {
				t.Errorf("%s: %s admitted %v, want %v", name, ref, got, want)
			}
		}
	}
}
