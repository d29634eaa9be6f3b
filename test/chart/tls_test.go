package chart

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/openratify/ratify/internal/certrotation"
	"github.com/openratify/ratify/internal/testpki"
)

// tlsSecret returns the data of the rendered Secret name.
func tlsSecret(t *testing.T, m manifest, name string) map[string][]byte {
	t.Helper()
	var s corev1.Secret
	decode(t, m.find(t, "Secret", name), &s)
	return s.Data
}

// checkServing checks that data holds a serving key pair for every name in
// hosts, issued by the CA whose PEM is caPEM.
func checkServing(t *testing.T, data map[string][]byte, caPEM []byte, hosts ...string) {
	t.Helper()
	if _, err := tls.X509KeyPair(data["tls.crt"], data["tls.key"]); err != nil {
		t.Fatalf("tls.crt and tls.key: %v", err)
	}
	block, _ := pem.Decode(data["tls.crt"])
	if block == nil {
		t.Fatal("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("the CA is not a PEM certificate: %q", caPEM)
	}
	for _, host := range hosts {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("tls.crt for %s: %v", host, err)
		}
	}
}

// TestProviderTLSGenerated: without certificates given and without
// rotation, the chart makes a CA and a certificate for the Service the
// Providers name, and the Providers trust that CA.
func TestProviderTLSGenerated(t *testing.T) {
	m := render(t, "--set", "fullnameOverride=verifier", "--set", "provider.timeout.validationTimeoutSeconds=7",
		"--set", "provider.timeout.mutationTimeoutSeconds=3")
	caBundle := checkProviders(t, m, "verifier.gatekeeper-system", 7, 3)
	data := tlsSecret(t, m, "verifier-tls")
	if caBundle != base64.StdEncoding.EncodeToString(data["ca.crt"]) {
		t.Errorf("the Providers' caBundle is not the Secret's ca.crt")
	}
	if _, ok := data["ca.key"]; ok {
		t.Error("the Secret keeps the CA's private key")
	}
	checkServing(t, data, data["ca.crt"], "verifier.gatekeeper-system", "verifier.gatekeeper-system.svc")
	if d, _ := deployment(t, render(t)); d.Name != "ratify" {
		t.Errorf("default Deployment %s", d.Name)
	}
}

// TestProviderTLSGiven: provider.tls.crt, .key and .caCert are served and
// trusted as given; provider.tls.caCert and .caKey alone sign a
// certificate for the Service; provider.tls.cabundle overrides the trust.
func TestProviderTLSGiven(t *testing.T) {
	dir := t.TempDir()
	ca := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	caPEM := testpki.EncodePEM(ca.Cert)
	keyDER := must(x509.MarshalPKCS8PrivateKey(ca.Key))(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.crt", caPEM)
	caKeyFile := write("ca.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))

	// The CA alone: the chart signs a certificate for the Service with it.
	m := render(t, "--set-file", "provider.tls.caCert="+caFile, "--set-file", "provider.tls.caKey="+caKeyFile)
	data := tlsSecret(t, m, "ratify-tls")
	checkServing(t, data, caPEM, "ratify.gatekeeper-system", "ratify.gatekeeper-system.svc.cluster.local")
	if got := checkProviders(t, m, "ratify.gatekeeper-system", 5, 2); got != base64.StdEncoding.EncodeToString(caPEM) {
		t.Errorf("caBundle %q, want the base64 of provider.tls.caCert", got)
	}

	// A certificate and key given: served as they are.
	crtFile := write("tls.crt", data["tls.crt"])
	keyFile := write("tls.key", data["tls.key"])
	m = render(t, "--set-file", "provider.tls.crt="+crtFile, "--set-file", "provider.tls.key="+keyFile,
		"--set-file", "provider.tls.caCert="+caFile)
	given := tlsSecret(t, m, "ratify-tls")
	if string(given["tls.crt"]) != string(data["tls.crt"]) || string(given["tls.key"]) != string(data["tls.key"]) || string(given["ca.crt"]) != string(caPEM) {
		t.Error("the Secret does not hold the certificate, key and CA given")
	}
	checkProviders(t, m, "ratify.gatekeeper-system", 5, 2)

	// provider.tls.cabundle: the Providers trust what it says.
	other := testpki.EncodePEM(must(testpki.NewRootCA(testpki.CertOptions{}))(t).Cert)
	bundle := base64.StdEncoding.EncodeToString(append(caPEM, other...))
	m = render(t, "--set-file", "provider.tls.crt="+crtFile, "--set-file", "provider.tls.key="+keyFile,
		"--set", "provider.tls.cabundle="+bundle)
	if got := checkProviders(t, m, "ratify.gatekeeper-system", 5, 2); got != bundle {
		t.Errorf("caBundle %q, want provider.tls.cabundle", got)
	}

	if out, err := helmTemplate(t, "--set-file", "provider.tls.crt="+crtFile); err == nil {
		t.Errorf("a certificate without its key renders:\n%s", out)
	}
}

// TestProviderTLSRotation: with RATIFY_CERT_ROTATION the chart still makes
// the first CA and certificate, so that Gatekeeper accepts the Providers
// from the start, and hands the CA's key to ratify's rotator
// (internal/certrotation, OPA cert-controller) in the Secret it renews,
// under the names the rotator expects for the release "ratify" and with the
// DNS names it checks.
func TestProviderTLSRotation(t *testing.T) {
	m := render(t, "--set", "featureFlags.RATIFY_CERT_ROTATION=true")
	data := tlsSecret(t, m, certrotation.DefaultSecretName)
	host := certrotation.DefaultService + ".gatekeeper-system"
	checkServing(t, data, data["ca.crt"], host, host+".svc", host+".svc.cluster.local")
	if _, err := tls.X509KeyPair(data["ca.crt"], data["ca.key"]); err != nil {
		t.Errorf("ca.crt and ca.key: %v", err)
	}
	if !m.has("Service", certrotation.DefaultService) {
		t.Errorf("no Service %s, the name the rotator certifies", certrotation.DefaultService)
	}
	if got := checkProviders(t, m, host, 5, 2); got != base64.StdEncoding.EncodeToString(data["ca.crt"]) {
		t.Errorf("caBundle is not the Secret's ca.crt")
	}
}

// must(f())(t) returns the value of f, failing t if f returned an error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
