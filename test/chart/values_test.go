package chart

import (
	"archive/tar"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLint: `helm lint --strict` passes, with the defaults and with every
// value Ratify v1's reference install passes (testdata/v1-values.yaml).
func TestLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", "testdata/v1-values.yaml"}} {
		all := append([]string{"lint", "--strict", chartDir()}, args...)
		if out, err := run(".", helm(t), all...); err != nil {
			t.Errorf("helm lint %v: %v\n%s", args, err, out)
		}
	}
}

// TestPackage: `helm package` ships what the templates read (the library
// copies, the rego policy, the schema) and the CRDs of crds/, which Helm
// installs before the templates.
func TestPackage(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(".", helm(t), "package", chartDir(), "-d", dir); err != nil {
		t.Fatalf("helm package: %v\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "ratify-*.tgz"))
	if len(matches) != 1 {
		t.Fatalf("helm package made %v", matches)
	}
	f := must(os.Open(matches[0]))(t)
	defer f.Close()
	tr := tar.NewReader(must(gzip.NewReader(f))(t))
	files := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(h.Name, "ratify/")] = true
	}
	want := []string{"Chart.yaml", "values.yaml", "values.schema.json", "files/policy.rego"}
	for _, f := range libraryFiles {
		want = append(want, "library/"+f)
	}
	crds, _ := filepath.Glob(filepath.Join(chartDir(), "crds", "*.yaml"))
	if len(crds) < 8 {
		t.Errorf("crds/ holds %d files, want the CRDs of the eight kinds", len(crds))
	}
	for _, c := range crds {
		want = append(want, "crds/"+filepath.Base(c))
	}
	for _, w := range want {
		if !files[w] {
			t.Errorf("the package lacks %s", w)
		}
	}
}

// TestV1Values: every value of DESIGN.md's Helm list, as Ratify v1's guides
// write them, is accepted and lands where it should.
func TestV1Values(t *testing.T) {
	m := render(t, "-f", "testdata/v1-values.yaml")
	d, c := deployment(t, m)
	if *d.Spec.Replicas != 2 || c.Image != "registry.example/ratify:v1.4.0" || c.ImagePullPolicy != "Always" ||
		c.Resources.Limits.Cpu().String() != "2" {
		t.Errorf("replicas %d image %s %s limits %v", *d.Spec.Replicas, c.Image, c.ImagePullPolicy, c.Resources.Limits)
	}
	for _, want := range []string{"--metrics-port=9090", "--log-level=warn"} { // logrus's "warning"
		if !strings.Contains(strings.Join(c.Args, " "), want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	checkProviders(t, m, "ratify.gatekeeper-system", 8, 4)
	if got := params(t, m, "KeyManagementProvider", "kmprovider-akv"); !jsonEqual(t, got["certificates"],
		`[{"name": "legacy-1", "version": "v1"}, {"name": "from-list"}, {"name": "new-style", "version": "v2"}]`) {
		t.Error("Key Vault certificates from cert1Name, akvCertConfig.certificates and azurekeyvault.certificates")
	}
	if len(m.ofKind("Assign")) != 0 || str(m.find(t, "Policy", "ratify-policy"), "spec", "type") != "rego-policy" {
		t.Errorf("provider.enableMutation=false and policy.useRego=true: Assigns %v", m.ofKind("Assign"))
	}
}

// TestSchemaRejectsTypos: a misspelt value fails the install, at the top
// level and in the sections where a typo would silently weaken it, instead
// of being ignored.
func TestSchemaRejectsTypos(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"enableMutation=false", "additional properties 'enableMutation' not allowed"},
		{"featureFlag.RATIFY_CERT_ROTATION=true", "additional properties 'featureFlag' not allowed"},
		{"provider.enableMutaion=false", "additional properties 'enableMutaion' not allowed"},
		{"oras.authProviders.azureWorkloadIdentityEnable=true", "additional properties 'azureWorkloadIdentityEnable' not allowed"},
		{"azurekeyvault.vaultUri=https://v", "additional properties 'vaultUri' not allowed"},
		{"featureFlags.CERT_ROTATION=true", "CERT_ROTATION"},
		{"provider.timeout.validationTimeoutSeconds=0", "minimum"},
		{"replicaCount=two", "replicaCount"},
		{"provider.cache.type=memcached", "provider.cache.type"},
		{"provider.cache.redis.adress=r:6379", "additional properties 'adress' not allowed"},
		{"provider.cache.redis.address=redis://r:6379", "provider.cache.redis.address"},
		{"provider.cache.redis.hmacKeySecret.nmae=s", "additional properties 'nmae' not allowed"},
		{"provider.cache.redis.tls.enabled=yes", "provider.cache.redis.tls.enabled"},
		{"provider.cache.redis.tls.caSecret.nmae=ca", "additional properties 'nmae' not allowed"},
		{"provider.cache.redis.tls.caFile=/ca.pem", "additional properties 'caFile' not allowed"},
		{"provider.cache.staleTTL=5m", "additional properties 'staleTTL' not allowed"},
		{"provider.cache.staleTtl=300", "provider.cache.staleTtl"},
		{"oras.cache.staleTtl=1", "oras.cache.staleTtl"},
		{"oras.cache.referrersStaleTtl=1m30", "oras.cache.referrersStaleTtl"},
		{"instrumentation.tracing.otlpEndpiont=http://c:4318", "additional properties 'otlpEndpiont' not allowed"},
		{"instrumentation.tracing.otlpEndpoint=c:4318", "instrumentation.tracing.otlpEndpoint"},
		{"instrumentation.tracing.protocol=http", "instrumentation.tracing.protocol"},
	} {
		out, err := helmTemplate(t, "--set", tc.set)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: error %v, want one saying %q\n%.300s", tc.set, err, tc.want, out)
		}
	}
}

// TestRenderRefusals: values that cannot work together fail with a message
// that says what to set, rather than rendering something that would not.
func TestRenderRefusals(t *testing.T) {
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"azurekeyvault.enabled=true", "azurekeyvault.tenantId=t", "azurekeyvault.certificates[0].name=c", "azureWorkloadIdentity.clientId=i"},
			"azurekeyvault.vaultURI is required"},
		{[]string{"azurekeyvault.enabled=true", "azurekeyvault.vaultURI=https://v", "azurekeyvault.tenantId=t", "azurekeyvault.certificates[0].name=c"},
			"azureWorkloadIdentity.clientId is required"},
		{[]string{"azurekeyvault.enabled=true", "azurekeyvault.vaultURI=https://v", "azurekeyvault.tenantId=t", "azureWorkloadIdentity.clientId=i"},
			"name at least one certificate"},
		{[]string{"oras.authProviders.azureWorkloadIdentityEnabled=true"}, "needs azureWorkloadIdentity.clientId"},
		{[]string{"oras.authProviders.k8secretsEnabled=true", "oras.authProviders.awsEcrBasicEnabled=true"}, "enable at most one"},
		{[]string{"notation.trustPolicies[0].trustStores[0]=ca:notationCerts[1]", "notationCerts[0]=x"}, "notationCerts has 1 certificate"},
		{[]string{"notation.trustPolicies[0].trustStores[0]=ca:azurekeyvault"}, "azurekeyvault.enabled is false"},
		{[]string{"notation.trustPolicies[0].trustStores[0]=x509:certs"}, `type "x509" is not ca`},
		{[]string{"notationCert=a", "notationCerts[0]=b"}, "not both"},
		{[]string{"gatekeeper.namespace=gk"}, "install ratify there"},
		{[]string{"provider.cache.type=redis"}, "needs provider.cache.redis.address=HOST:PORT"},
		{[]string{"provider.cache.type=redis", "provider.cache.redis.address=r:6379", "provider.cache.enabled=false"},
			"provider.cache.enabled=true"},
		{[]string{"provider.cache.type=dapr"}, "set provider.cache.type=redis and provider.cache.redis.address=HOST:PORT"},
	} {
		var args []string
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		if out, err := helmTemplate(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q\n%.300s", tc.sets, err, tc.want, out)
		}
	}
}
