package admission

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testcluster"
)

// TestChartUpgradeKeepsCacheKey installs the chart with `helm install` on a
// real API server with the shared Redis result cache and upgrades it to
// three replicas: the HMAC key of the Secret the chart made at install is
// the one the upgrade renders (lookup), so replicas started before and after
// an upgrade trust each other's results. Nothing runs the pods (no kubelet):
// test/chart runs replicas of a rendered release against a real Redis.
func TestChartUpgradeKeepsCacheKey(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	values := []string{"--set", "provider.cache.type=redis", "--set", "provider.cache.redis.address=redis.example:6379",
		"--set", "gatekeeper.constraintTemplate.enabled=false", "--set", "gatekeeper.constraint.enabled=false",
		"--set", "provider.enableMutation=false"}
	helmRun(t, c, append([]string{"install", "ratify", filepath.Join(moduleRoot, "charts", "ratify")}, values...)...)
	key := hmacKeyOf(t, c)
	if len(key) < 32 {
		t.Fatalf("the installed HMAC key is %d bytes, want at least 32", len(key))
	}

	helmRun(t, c, append([]string{"upgrade", "ratify", filepath.Join(moduleRoot, "charts", "ratify"), "--set", "replicaCount=3"}, values...)...)
	if got := hmacKeyOf(t, c); got != key {
		t.Error("the upgrade replaced the HMAC key: replicas of the two revisions would ignore each other's results")
	}
	replicas, stderr, err := c.Kubectl("get", "deployment", "ratify", "-n", releaseNamespace, "-o", "jsonpath={.spec.replicas}")
	if err != nil || replicas != "3" {
		t.Errorf("replicas %q after the upgrade (%v %s), want 3", replicas, err, stderr)
	}
}

// hmacKeyOf returns the key in the Secret ratify-cache-hmac of the release.
func hmacKeyOf(t *testing.T, c *testcluster.Cluster) string {
	t.Helper()
	out, stderr, err := c.Kubectl("get", "secret", "ratify-cache-hmac", "-n", releaseNamespace, "-o", "jsonpath={.data.hmac-key}")
	if err != nil {
		t.Fatalf("the chart's HMAC key Secret: %v\n%s", err, stderr)
	}
	return string(must(base64.StdEncoding.DecodeString(strings.TrimSpace(out)))(t))
}

// helmRun runs helm against the cluster as its admin, in the release's
// namespace, with a helm home of its own, failing t if helm fails.
func helmRun(t *testing.T, c *testcluster.Cluster, args ...string) {
	t.Helper()
	args = append(args, "--namespace", releaseNamespace, "--kubeconfig", c.Kubeconfig)
	cmd := exec.Command(c.Bin.Helm, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}
