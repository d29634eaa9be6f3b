package chart

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/openratify/ratify/internal/testratify"
)

// deployment returns the rendered Deployment "ratify" and its one container.
func deployment(t *testing.T, m manifest) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	decode(t, m.find(t, "Deployment", "ratify"), &d)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("%d containers, want 1", n)
	}
	return &d, d.Spec.Template.Spec.Containers[0]
}

// TestDeploymentDefaults: the pod runs `ratify serve` as README.md shows it,
// with the CRD manager, hardened (non-root, read-only root file system, no
// privilege escalation, no capabilities, RuntimeDefault seccomp), probed on
// the health port, and every file it reads mounted where its flags say.
func TestDeploymentDefaults(t *testing.T) {
	m := render(t)
	d, c := deployment(t, m)
	wantArgs := []string{"serve", "--http", ":6001", "-c", "/usr/local/ratify/config.json", "--enable-crd-manager",
		"--cert-dir", "/usr/local/tls", "--ca-cert-file", "/usr/local/tls/client-ca/ca.crt",
		"--health-port=:9099", "--metrics-enabled=true", "--metrics-type=prometheus", "--metrics-port=8888",
		"--cache-enabled=true", "--cache-type=ristretto", "--cache-size=256", "--cache-ttl=10s",
		"--tag-cache-ttl=5s", "--log-level=info"}
	if !slices.Equal(c.Args, wantArgs) || c.Command != nil {
		t.Errorf("command %q args %q\nwant the image's entrypoint with args %q", c.Command, c.Args, wantArgs)
	}
	checkServeAccepts(t, c.Args)
	if c.Image != "ghcr.io/openratify/ratify:v1.0.0" || *d.Spec.Replicas != 1 || d.Spec.Template.Spec.ServiceAccountName != "ratify-admin" {
		t.Errorf("image %q, replicas %d, service account %q", c.Image, *d.Spec.Replicas, d.Spec.Template.Spec.ServiceAccountName)
	}

	sc := c.SecurityContext
	if sc == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != 65532 || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v", sc)
	}
	if psc := d.Spec.Template.Spec.SecurityContext; psc == nil || !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v", psc)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if want := map[string]int32{"https": 6001, "metrics": 8888, "health": 9099}; !reflect.DeepEqual(ports, want) {
		t.Errorf("ports %v, want %v", ports, want)
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %+v, want GET %s on port health (9099)", probe, path)
		}
	}
	if got := c.Resources.Limits.Memory().String() + " " + c.Resources.Requests.Cpu().String(); got != "512Mi 600m" {
		t.Errorf("memory limit and CPU request %s, want the values' 512Mi 600m", got)
	}

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["RATIFY_CERT_ROTATION"].Value != "0" || env["RATIFY_NAME"].Value != "ratify" ||
		env["RATIFY_NAMESPACE"].ValueFrom == nil || env["RATIFY_NAMESPACE"].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("env %+v", c.Env)
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
		if !vm.ReadOnly && vm.MountPath != "/tmp" {
			t.Errorf("%s is mounted writable", vm.MountPath)
		}
	}
	check := func(path, volume string, ok func(corev1.VolumeSource) bool) {
		t.Helper()
		vm, mounted := mounts[path]
		if !mounted || vm.Name != volume || !ok(volumes[volume].VolumeSource) {
			t.Errorf("%s: mount %+v of volume %+v", path, vm, volumes[volume])
		}
	}
	check("/usr/local/ratify", "config", func(s corev1.VolumeSource) bool {
		return s.ConfigMap != nil && s.ConfigMap.Name == "ratify-configuration" && m.has("ConfigMap", "ratify-configuration")
	})
	check("/usr/local/tls", "tls", func(s corev1.VolumeSource) bool {
		return s.Secret != nil && s.Secret.SecretName == "ratify-tls" && m.has("Secret", "ratify-tls")
	})
	check("/usr/local/tls/client-ca", "client-ca", func(s corev1.VolumeSource) bool {
		return s.Secret != nil && s.Secret.SecretName == "gatekeeper-webhook-server-cert" &&
			reflect.DeepEqual(s.Secret.Items, []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}})
	})
	check("/usr/local/ratify-certs/notation", "notation-certs", func(s corev1.VolumeSource) bool {
		return s.Secret != nil && s.Secret.SecretName == "ratify-notation-certs" && m.has("Secret", "ratify-notation-certs")
	})
	check("/tmp", "tmp", func(s corev1.VolumeSource) bool { return s.EmptyDir != nil })
	if xdg := env["XDG_CACHE_HOME"].Value; filepath.Dir(xdg) != "/tmp" {
		t.Errorf("XDG_CACHE_HOME %q is not on the writable /tmp emptyDir (the CRL cache lives there)", xdg)
	}

	var svc corev1.Service
	decode(t, m.find(t, "Service", "ratify"), &svc)
	svcPorts := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Port] = p.TargetPort.String()
	}
	if want := map[int32]string{6001: "https", 8888: "metrics"}; !reflect.DeepEqual(svcPorts, want) ||
		!reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service ports %v selector %v; want %v selecting %v", svcPorts, svc.Spec.Selector, want, d.Spec.Selector.MatchLabels)
	}
}

// TestDeploymentValues: the values that shape the pod reach it.
func TestDeploymentValues(t *testing.T) {
	m := render(t, "--set", "replicaCount=3", "--set", "image.repository=registry.example/ratify", "--set", "image.tag=v1.2.3",
		"--set", "healthPort=9100", "--set", "instrumentation.metricsPort=9200", "--set", "instrumentation.metricsEnabled=false",
		"--set", "provider.cache.ttl=30s", "--set", "provider.cache.cacheSizeMb=64", "--set", "provider.cache.enabled=false",
		"--set", "oras.cache.enabled=false", "--set", "logger.level=debug", "--set", "provider.clientAuth.enabled=false",
		"--set", "featureFlags.RATIFY_CERT_ROTATION=true", "--set", "resources.limits.memory=1Gi",
		"--set", "azureWorkloadIdentity.clientId=00000000-0000-0000-0000-000000000001")
	d, c := deployment(t, m)
	wantArgs := []string{"serve", "--http", ":6001", "-c", "/usr/local/ratify/config.json", "--enable-crd-manager",
		"--cert-dir", "/usr/local/tls",
		"--health-port=:9100", "--metrics-enabled=false", "--metrics-type=prometheus", "--metrics-port=9200",
		"--cache-enabled=false", "--cache-type=ristretto", "--cache-size=64", "--cache-ttl=30s",
		"--tag-cache-ttl=-1s", "--log-level=debug"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q\nwant %q", c.Args, wantArgs)
	}
	checkServeAccepts(t, c.Args)
	if c.Image != "registry.example/ratify:v1.2.3" || *d.Spec.Replicas != 3 || c.Resources.Limits.Memory().String() != "1Gi" {
		t.Errorf("image %q replicas %d memory %s", c.Image, *d.Spec.Replicas, c.Resources.Limits.Memory())
	}
	if c.LivenessProbe.HTTPGet.Port.String() != "health" || c.Ports[len(c.Ports)-1].ContainerPort != 9100 {
		t.Errorf("health port: probe %v, ports %+v", c.LivenessProbe.HTTPGet.Port, c.Ports)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "client-ca" {
			t.Errorf("client-ca volume mounted without mutual TLS")
		}
	}
	for _, e := range c.Env {
		if e.Name == "RATIFY_CERT_ROTATION" && e.Value != "1" {
			t.Errorf("RATIFY_CERT_ROTATION=%q, want 1", e.Value)
		}
	}
	if d.Spec.Template.Labels["azure.workload.identity/use"] != "true" {
		t.Errorf("pod labels %v lack azure.workload.identity/use", d.Spec.Template.Labels)
	}
	sa := m.find(t, "ServiceAccount", "ratify-admin")
	if got := sa.GetAnnotations()["azure.workload.identity/client-id"]; got != "00000000-0000-0000-0000-000000000001" {
		t.Errorf("ServiceAccount client-id annotation %q", got)
	}
}

// checkServeAccepts fails t unless the ratify built from this tree, with
// the Kubernetes controllers (build tag k8s) as the container image is
// built (internal/testratify), accepts args: cobra refuses an unknown flag or an unparsable value before it
// honours --help.
func checkServeAccepts(t *testing.T, args []string) {
	t.Helper()
	bin, err := testratify.Build("k8s")
	if err != nil {
		t.Fatalf("build ratify: %v", err)
	}
	cmd := exec.Command(bin, append(slices.Clone(args), "--help")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("ratify %q refused the chart's arguments: %v\n%s", args, err, out)
	}
}
