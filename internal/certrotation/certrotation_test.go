package certrotation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// k8sBin returns the folder with kube-apiserver and etcd, building them
// (tools/k8s/build.sh, cached in .cache/k8s-bin) when they are missing.
func k8sBin(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("RATIFY_TEST_K8S_BIN"); dir != "" {
		return dir
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".cache", "k8s-bin")
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "etcd")); err == nil {
			return dir
		}
	}
	out, err := exec.Command(filepath.Join(root, "tools", "k8s", "build.sh"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("building kube-apiserver and etcd: %v\n%s", err, out)
	}
	return dir
}

// providerCRD is a minimal CustomResourceDefinition for Gatekeeper's
// Provider (externaldata.gatekeeper.sh/v1beta1), enough to store objects.
func providerCRD() *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "providers.externaldata.gatekeeper.sh"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "externaldata.gatekeeper.sh",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Provider", ListKind: "ProviderList", Plural: "providers", Singular: "provider"},
			Scope: apiextensionsv1.ClusterScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1beta1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &preserve,
				}},
			}},
		},
	}
}

func provider(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("externaldata.gatekeeper.sh/v1beta1")
	u.SetKind("Provider")
	u.SetName(name)
	_ = unstructured.SetNestedField(u.Object, map[string]any{
		"url": "https://ratify.gatekeeper-system:6001/ratify/gatekeeper/v1/verify", "timeout": int64(10), "caBundle": "placeholder",
	}, "spec")
	return u
}

// TestRotationFillsSecretFilesAndProviders runs the rotator against a real
// kube-apiserver: it must fill the Secret, and the CA it made must end up in
// both Providers' caBundle, with a serving certificate for the Service.
func TestRotationFillsSecretFilesAndProviders(t *testing.T) {
	env := &envtest.Environment{
		BinaryAssetsDirectory:    k8sBin(t),
		CRDs:                     []*apiextensionsv1.CustomResourceDefinition{providerCRD()},
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const ns = "gatekeeper-system"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: DefaultSecretName, Namespace: ns}},
		provider("ratify-provider"), provider("ratify-mutation-provider"),
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	mgr, err := manager.New(cfg, manager.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	ready := make(chan struct{})
	if err := Add(mgr, Options{Namespace: ns, CertDir: certDir, Ready: ready}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	// Stand in for the kubelet, which mounts the Secret at the cert dir.
	go mountSecret(ctx, c, types.NamespacedName{Namespace: ns, Name: DefaultSecretName}, certDir)
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("certificates never became ready")
	}

	var secret corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: DefaultSecretName}, &secret); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(secret.Data["ca.crt"]) {
		t.Fatal("the Secret holds no CA")
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "ratify." + ns}); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	want := base64.StdEncoding.EncodeToString(secret.Data["ca.crt"])
	for _, name := range providerNames {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			p := provider(name)
			if err := c.Get(ctx, types.NamespacedName{Name: name}, p); err != nil {
				t.Fatal(err)
			}
			got, _, _ := unstructured.NestedString(p.Object, "spec", "caBundle")
			if got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Provider %s caBundle = %.40q..., want the rotator's CA", name, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// mountSecret copies the Secret's keys into dir whenever they change.
func mountSecret(ctx context.Context, c client.Client, key types.NamespacedName, dir string) {
	for ctx.Err() == nil {
		var s corev1.Secret
		if c.Get(ctx, key, &s) == nil {
			for name, data := range s.Data {
				path := filepath.Join(dir, name)
				if old, _ := os.ReadFile(path); !bytes.Equal(old, data) {
					_ = os.WriteFile(path, data, 0o600)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}
