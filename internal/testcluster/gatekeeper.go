package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/openratify/ratify/internal/testratify"
)

// gatekeeperNamespace is the namespace Gatekeeper's manager runs as part of
// (POD_NAMESPACE) and that its RBAC names.
const gatekeeperNamespace = "gatekeeper-system"

// gatekeeperModule is the Go module of Gatekeeper's manager, pinned in
// tools/k8s/gatekeeper/go.mod.
const gatekeeperModule = "github.com/open-policy-agent/gatekeeper/v3"

// gatekeeperBaseKinds are the kinds of deploy/gatekeeper.yaml that a
// manager running out of cluster needs: its namespace, its CRDs, and the
// RBAC of its ServiceAccount. Its Deployments, Services, webhook
// configurations and the rest are left out.
var gatekeeperBaseKinds = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ServiceAccount": true,
	"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true,
}

// applyGatekeeperBase applies Gatekeeper's Namespace, CRDs and RBAC, and
// waits for the CRDs to be established.
func (c *Cluster) applyGatekeeperBase(ctx context.Context) error {
	manifest, err := GatekeeperManifest(ctx)
	if err != nil {
		return err
	}
	path := c.path("gatekeeper", "base.yaml")
	if err := writeFile(path, []byte(filterKinds(string(manifest), gatekeeperBaseKinds))); err != nil {
		return err
	}
	// Server-side: some CRDs are too big for client-side apply's annotation.
	if _, stderr, err := c.KubectlContext(ctx, "", "apply", "--server-side", "-f", path); err != nil {
		return errorWith(err, stderr)
	}
	return c.WaitFor(ctx, "Gatekeeper's CRDs to be established", func(ctx context.Context) error {
		_, stderr, err := c.KubectlContext(ctx, "", "wait", "--for=condition=established", "--timeout=30s", "crd", "--all")
		return errorWith(err, stderr)
	})
}

// GatekeeperManifest returns deploy/gatekeeper.yaml of the Gatekeeper
// module pinned in tools/k8s/gatekeeper/go.mod, from the module cache
// (downloading the module from the Go module proxy if it is not there).
func GatekeeperManifest(ctx context.Context) ([]byte, error) {
	root, err := testratify.ModuleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", gatekeeperModule)
	cmd.Dir = filepath.Join(root, "tools", "k8s", "gatekeeper")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s in %s: %w", gatekeeperModule, cmd.Dir, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download %s: no directory (%v %s)", gatekeeperModule, err, mod.Error)
	}
	return os.ReadFile(filepath.Join(mod.Dir, "deploy", "gatekeeper.yaml"))
}

// kindLine finds a YAML document's top-level kind.
var kindLine = regexp.MustCompile(`(?m)^kind:\s*(\S+)\s*$`)

// filterKinds returns the documents of a multi-document YAML stream whose
// top-level kind is in kinds.
func filterKinds(stream string, kinds map[string]bool) string {
	var b strings.Builder
	for _, doc := range regexp.MustCompile(`(?m)^---.*$`).Split(stream, -1) {
		if m := kindLine.FindStringSubmatch(doc); m != nil && kinds[m[1]] {
			b.WriteString("---\n" + strings.Trim(doc, "\n") + "\n")
		}
	}
	return b.String()
}

// startGatekeeper runs Gatekeeper's manager out of cluster, as its
// ServiceAccount, serving its webhooks with the certificate in
// GatekeeperCertFile on a free loopback port, and waits for its /readyz.
// External data is on, with Gatekeeper's provider response cache off so that
// every review reaches the provider; mutation runs when asked. Metrics go to
// an OTLP sink on loopback (the default Prometheus exporter would listen on
// every interface).
func (c *Cluster) startGatekeeper(ctx context.Context, mutation bool) error {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	c.metricsSink = sink
	p, err := startOnFreePorts(2, func(ports []int) (*process, error) {
		c.webhookPort = ports[0]
		args := []string{"--kubeconfig=" + c.path("gatekeeper", "kubeconfig"),
			"--host=127.0.0.1", "--port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + filepath.Dir(c.GatekeeperCertFile), "--disable-cert-rotation",
			"--health-addr=127.0.0.1:" + strconv.Itoa(ports[1]), "--metrics-addr=0",
			"--metrics-backend=opentelemetry", "--otlp-endpoint=" + strings.TrimPrefix(sink.URL, "http://"),
			"--otlp-metric-interval=1000h",
			"--operation=webhook", "--operation=status", "--operation=generate",
			"--enable-external-data=true", "--external-data-provider-response-cache-ttl=0s",
			"--debug-use-fake-pod", "--shutdown-delay=0", "--log-denies"}
		if mutation {
			args = append(args, "--operation=mutation-webhook", "--operation=mutation-status", "--operation=mutation-controller")
		}
		p, err := startProcess("gatekeeper-manager", c.path("gatekeeper.log"),
			[]string{"POD_NAMESPACE=" + gatekeeperNamespace}, c.Bin.Gatekeeper, args...)
		if err != nil {
			return nil, err
		}
		return p, p.waitReady(ctx, httpProbe(http.DefaultClient, "http://127.0.0.1:"+strconv.Itoa(ports[1])+"/readyz", "ok"))
	})
	if err != nil {
		return err
	}
	c.gatekeeper = p
	return nil
}

// registerWebhooks registers Gatekeeper's validating webhook for Pods (and
// its mutating webhook, with mutation), as Gatekeeper's own installation
// does, failing closed (failurePolicy Fail) and with the longest timeout
// Kubernetes allows, so that a busy machine never turns a slow answer into a
// refusal. They are registered only once Gatekeeper is ready: before, they
// would block Gatekeeper's own set-up.
func (c *Cluster) registerWebhooks(ctx context.Context, mutation bool) error {
	const hook = `apiVersion: admissionregistration.k8s.io/v1
kind: %[1]sWebhookConfiguration
metadata: {name: gatekeeper-%[2]s-webhook-configuration}
webhooks:
- name: %[3]s.gatekeeper.sh
  admissionReviewVersions: [v1, v1beta1]
  clientConfig: {url: "https://127.0.0.1:%[4]d/v1/%[5]s", caBundle: %[6]q}
  failurePolicy: Fail
  sideEffects: None
  timeoutSeconds: 30
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [%[7]s, kube-system]}
  rules:
  - {apiGroups: [""], apiVersions: ["*"], operations: [CREATE, UPDATE], resources: [pods]}
`
	manifest := fmt.Sprintf(hook, "Validating", "validating", "validation", c.webhookPort, "admit", c.CA.Bundle(), gatekeeperNamespace)
	names := []string{"validation.gatekeeper.sh"}
	if mutation {
		manifest += "---\n" + fmt.Sprintf(hook, "Mutating", "mutating", "mutation", c.webhookPort, "mutate", c.CA.Bundle(), gatekeeperNamespace)
		names = append(names, "mutation.gatekeeper.sh")
	}
	if _, stderr, err := c.KubectlContext(ctx, manifest, "apply", "--server-side", "-f", "-"); err != nil {
		return errorWith(err, stderr)
	}
	return c.waitWebhooksCalled(ctx, names)
}

// waitWebhooksCalled waits until the API server calls each of the webhooks
// names: it picks up a new webhook configuration asynchronously. It dry-runs
// the creation of a Pod (sideEffects None webhooks are called on dry runs)
// until the API server's metric apiserver_admission_webhook_request_total
// counts a call to each.
func (c *Cluster) waitWebhooksCalled(ctx context.Context, names []string) error {
	client, err := c.adminHTTPClient()
	if err != nil {
		return err
	}
	metrics := c.Server + "/metrics"
	return c.WaitFor(ctx, "the API server to call Gatekeeper's webhooks", func(ctx context.Context) error {
		if _, stderr, err := c.KubectlContext(ctx, "", "run", "testcluster-probe", "--image=testcluster.invalid/probe:v1",
			"--restart=Never", "--dry-run=server"); err != nil {
			return errorWith(err, stderr)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, metrics, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		called := map[string]bool{}
		for _, line := range strings.Split(string(body), "\n") {
			for _, name := range names {
				if strings.HasPrefix(line, "apiserver_admission_webhook_request_total{") &&
					strings.Contains(line, `name="`+name+`"`) {
					called[name] = true
				}
			}
		}
		for _, name := range names {
			if !called[name] {
				return fmt.Errorf("GET %s: no apiserver_admission_webhook_request_total for %s yet", metrics, name)
			}
		}
		return nil
	})
}
