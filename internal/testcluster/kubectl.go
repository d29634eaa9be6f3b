package testcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// KubectlDeadline bounds one kubectl run by Kubectl. Admission by
// Gatekeeper answers in well under a second; the deadline only stops a hung
// command.
const KubectlDeadline = 2 * time.Minute

// WaitDeadline bounds Eventually: how long a condition on the cluster may
// take to hold (a ConstraintTemplate's CRD to be created, a constraint to be
// enforced).
const WaitDeadline = 3 * time.Minute

// Kubectl runs kubectl with the admin kubeconfig and args, and returns its
// standard output and error. err is non-nil when kubectl failed (a refused
// admission is a failure: its message is in stderr).
func (c *Cluster) Kubectl(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), KubectlDeadline)
	defer cancel()
	return c.KubectlContext(ctx, "", args...)
}

// KubectlInput is Kubectl with input as standard input, for `apply -f -`.
func (c *Cluster) KubectlInput(input string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), KubectlDeadline)
	defer cancel()
	return c.KubectlContext(ctx, input, args...)
}

// KubectlContext is Kubectl with a context and standard input. kubectl
// runs with HOME in the cluster's directory, so that its discovery cache
// stays there.
func (c *Cluster) KubectlContext(ctx context.Context, input string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, c.Bin.Kubectl, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.path("home"), "KUBECONFIG=")
	cmd.Stdin = strings.NewReader(input)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), err
}

// Apply applies manifest (YAML, one or more documents) with `kubectl apply
// --server-side`, failing t if kubectl fails.
func (c *Cluster) Apply(t testing.TB, manifest string) {
	t.Helper()
	if _, stderr, err := c.KubectlInput(manifest, "apply", "--server-side", "--force-conflicts", "-f", "-"); err != nil {
		t.Fatalf("%v: %s\nmanifest:\n%s", err, stderr, manifest)
	}
}

// Get returns the JSONPath expression path (kubectl's syntax, e.g.
// "{.status.byPod[0].enforced}") of an object, resource being what `kubectl
// get` takes ("provider/ratify-provider"); args may add "-n NAMESPACE".
func (c *Cluster) Get(ctx context.Context, resource, path string, args ...string) (string, error) {
	out, stderr, err := c.KubectlContext(ctx, "", append([]string{"get", resource, "-o", "jsonpath=" + path}, args...)...)
	return out, errorWith(err, stderr)
}

// Eventually polls cond until it returns nil, failing t with cond's last
// error when it has not within WaitDeadline.
func (c *Cluster) Eventually(t testing.TB, what string, cond func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitDeadline)
	defer cancel()
	if err := c.WaitFor(ctx, what, cond); err != nil {
		t.Fatal(err)
	}
}

// WaitFor polls cond until it returns nil or ctx ends.
func (c *Cluster) WaitFor(ctx context.Context, what string, cond func(context.Context) error) error {
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w; last: %v", what, ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}

// Equals returns a condition for Eventually: the JSONPath path of resource
// equals want.
func (c *Cluster) Equals(resource, path, want string, args ...string) func(context.Context) error {
	return func(ctx context.Context) error {
		got, err := c.Get(ctx, resource, path, args...)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s %s is %q, want %q", resource, path, got, want)
		}
		return nil
	}
}

// CreateNamespaces creates the namespaces names (default exists already)
// and, in each and in default, the ServiceAccount "default" that the API
// server's ServiceAccount admission plugin requires of a Pod. No
// controller-manager runs to create it.
func (c *Cluster) CreateNamespaces(ctx context.Context, names ...string) error {
	var b strings.Builder
	for _, ns := range append([]string{"default"}, names...) {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %q}\n", ns)
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: %q}\n", ns)
	}
	_, stderr, err := c.KubectlContext(ctx, b.String(), "apply", "--server-side", "-f", "-")
	return errorWith(err, stderr)
}

// KubeconfigFor writes a kubeconfig that authenticates as user, in groups,
// with a client certificate from the cluster's CA, and returns its path. A
// ServiceAccount's user is "system:serviceaccount:NAMESPACE:NAME": a program
// run with it out of cluster has exactly the RBAC permissions of that
// ServiceAccount.
func (c *Cluster) KubeconfigFor(user string, groups ...string) (string, error) {
	name := strings.NewReplacer(":", "_", "/", "_").Replace(user)
	cert, key := c.path("pki", "users", name+".crt"), c.path("pki", "users", name+".key")
	if err := c.CA.Issue(Leaf{CommonName: user, Organization: groups, Client: true}, cert, key); err != nil {
		return "", err
	}
	path := c.path("users", name+".kubeconfig")
	return path, c.writeKubeconfig(path, cert, key)
}

// writeKubeconfigs writes the admin kubeconfig and Gatekeeper's.
func (c *Cluster) writeKubeconfigs() error {
	c.Kubeconfig = c.path("admin.kubeconfig")
	if err := c.writeKubeconfig(c.Kubeconfig, c.adminCert, c.adminKey); err != nil {
		return err
	}
	return c.writeKubeconfig(c.path("gatekeeper", "kubeconfig"),
		c.path("pki", "gatekeeper-client.crt"), c.path("pki", "gatekeeper-client.key"))
}

// writeKubeconfig writes a kubeconfig for the API server, authenticating
// with a client certificate, to path.
func (c *Cluster) writeKubeconfig(path, cert, key string) error {
	return writeFile(path, fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: testcluster, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: user, user: {client-certificate: %q, client-key: %q}}]
contexts: [{name: testcluster, context: {cluster: testcluster, user: user, namespace: default}}]
current-context: testcluster
`, c.Server, c.CAFile, cert, key))
}

// adminHTTPClient returns an HTTP client that trusts the cluster's CA and
// authenticates as the admin.
func (c *Cluster) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.adminCert, c.adminKey)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.CA.Cert)
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		},
	}, nil
}

// httpProbe returns a readiness probe: GET url answers 200 with a body that
// contains want.
func httpProbe(client *http.Client, url, want string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			return fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, body)
		}
		return nil
	}
}
