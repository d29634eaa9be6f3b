// Package testcluster starts a real Kubernetes control plane with OPA
// Gatekeeper for tests, on 127.0.0.1 and free ports, with no kubelet, no
// container runtime and no images: etcd, kube-apiserver (RBAC, x509 client
// authentication, certificates made here with crypto/x509) and Gatekeeper's
// manager running out of cluster with external data enabled, registered as
// the validating admission webhook for Pods. `kubectl run` against it is
// admitted or refused by Gatekeeper exactly as in a cluster; admitted Pods
// stay Pending, which is all an admission test needs.
//
// The binaries (kube-apiserver and kubectl v1.35.4, etcd v3.6.16, Gatekeeper
// v3.23.1, helm v3) are built from the Go module proxy by tools/k8s/build.sh;
// see FindBinaries. Gatekeeper's Namespace, CRDs and RBAC are applied from
// deploy/gatekeeper.yaml of the same Gatekeeper module.
//
// Every wait polls for readiness under a generous deadline; nothing sleeps
// for a fixed time. The processes are stopped, by their PIDs, when the test
// ends.
package testcluster

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StartDeadline bounds the start of a cluster, from etcd to Gatekeeper's
// registered webhook. A start takes 10–20 s; the deadline only stops a hung
// one on a very busy machine.
const StartDeadline = 5 * time.Minute

// stopGrace is how long a process may take to exit after SIGTERM before it
// is killed.
const stopGrace = 20 * time.Second

// Options configure a cluster. The zero value starts one with the default
// namespace only.
type Options struct {
	// Namespaces are created, besides default, each with the ServiceAccount
	// "default" (no controller-manager runs to create it).
	Namespaces []string
	// Mutation runs Gatekeeper's mutation (Assign and the other mutators)
	// and registers its mutating webhook for Pods as well.
	Mutation bool
}

// Cluster is a running control plane. Its fields are read-only.
type Cluster struct {
	// Dir holds the cluster's certificates, kubeconfigs and logs.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig (group system:masters).
	Kubeconfig string
	// Server is the API server's URL, https://127.0.0.1:PORT.
	Server string
	// CA issued every certificate of the cluster; CAFile holds it (PEM).
	CA     *CA
	CAFile string
	// GatekeeperCertFile and GatekeeperKeyFile are the certificate and key
	// (PEM) Gatekeeper serves its webhook with and presents, as its client
	// certificate, to external data providers. CAFile is what a provider
	// trusts to authenticate Gatekeeper (ratify's --ca-cert-file).
	GatekeeperCertFile, GatekeeperKeyFile string
	// Bin holds the binaries the cluster runs, and helm.
	Bin *Binaries

	etcd, apiserver, gatekeeper *process
	etcdURL                     string // etcd's client URL
	webhookPort                 int    // Gatekeeper's webhook port
	metricsSink                 *httptest.Server
	adminCert, adminKey         string
}

// Start starts a cluster and stops it when t ends. It fails t if any part
// does not start within StartDeadline.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: t.TempDir(), Bin: bin}
	t.Cleanup(func() { c.stop(t) })
	ctx, cancel := context.WithTimeout(context.Background(), StartDeadline)
	defer cancel()
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"certificates", func(context.Context) error { return c.makePKI() }},
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"namespaces", func(ctx context.Context) error { return c.CreateNamespaces(ctx, opts.Namespaces...) }},
		{"Gatekeeper's CRDs and RBAC", c.applyGatekeeperBase},
		{"Gatekeeper", func(ctx context.Context) error { return c.startGatekeeper(ctx, opts.Mutation) }},
		{"Gatekeeper's webhooks", func(ctx context.Context) error { return c.registerWebhooks(ctx, opts.Mutation) }},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(ctx); err != nil {
			t.Fatalf("testcluster: %s: %v", s.name, err)
		}
		t.Logf("testcluster: %s ready in %s", s.name, time.Since(start).Round(10*time.Millisecond))
	}
	return c
}

// makePKI makes the cluster's CA and the certificates it issues: the API
// server's, an admin client (group system:masters), Gatekeeper's API client
// (the user of its ServiceAccount, so that its own RBAC applies), Gatekeeper's
// webhook certificate (serving, and its client certificate towards external
// data providers), and the service account token key pair.
func (c *Cluster) makePKI() error {
	ca, err := NewCA("ratify testcluster CA")
	if err != nil {
		return err
	}
	c.CA, c.CAFile = ca, c.path("pki", "ca.crt")
	c.adminCert, c.adminKey = c.path("pki", "admin.crt"), c.path("pki", "admin.key")
	c.GatekeeperCertFile, c.GatekeeperKeyFile = c.path("gatekeeper", "certs", "tls.crt"), c.path("gatekeeper", "certs", "tls.key")
	issues := []struct {
		leaf      Leaf
		cert, key string
	}{
		{Leaf{CommonName: "kube-apiserver", Hosts: []string{"127.0.0.1", "localhost", "kubernetes.default.svc"}, Server: true},
			c.path("pki", "apiserver.crt"), c.path("pki", "apiserver.key")},
		{Leaf{CommonName: "admin", Organization: []string{"system:masters"}, Client: true}, c.adminCert, c.adminKey},
		{Leaf{CommonName: "system:serviceaccount:" + gatekeeperNamespace + ":gatekeeper-admin", Client: true},
			c.path("pki", "gatekeeper-client.crt"), c.path("pki", "gatekeeper-client.key")},
		{Leaf{CommonName: "gatekeeper-webhook-service." + gatekeeperNamespace + ".svc",
			Hosts:  []string{"127.0.0.1", "localhost", "gatekeeper-webhook-service." + gatekeeperNamespace + ".svc"},
			Server: true, Client: true}, c.GatekeeperCertFile, c.GatekeeperKeyFile},
	}
	for _, i := range issues {
		if err := ca.Issue(i.leaf, i.cert, i.key); err != nil {
			return err
		}
	}
	if err := ca.WriteCert(c.CAFile); err != nil {
		return err
	}
	if err := ca.WriteCert(c.path("gatekeeper", "certs", "ca.crt")); err != nil {
		return err
	}
	return newKeyPair(c.path("pki", "sa.key"), c.path("pki", "sa.pub"))
}

// startEtcd starts a single-member etcd on two free loopback ports and
// waits for its /health.
func (c *Cluster) startEtcd(ctx context.Context) error {
	p, err := startOnFreePorts(2, func(ports []int) (*process, error) {
		client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		p, err := startProcess("etcd", c.path("etcd.log"), nil, c.Bin.Etcd,
			"--name=testcluster", "--data-dir="+c.path("etcd"),
			"--listen-client-urls="+client, "--advertise-client-urls="+client,
			"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
			"--initial-cluster=testcluster="+peer, "--listen-metrics-urls=",
			"--unsafe-no-fsync", "--log-level=warn")
		if err != nil {
			return nil, err
		}
		c.etcdURL = client
		return p, p.waitReady(ctx, httpProbe(http.DefaultClient, client+"/health", `"health":"true"`))
	})
	if err != nil {
		return err
	}
	c.etcd = p
	return nil
}

// startAPIServer starts kube-apiserver on a free loopback port, with RBAC,
// x509 client certificates and service accounts, and waits for its /readyz
// and the default namespace.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	client, err := c.adminHTTPClient()
	if err != nil {
		return err
	}
	p, err := startOnFreePorts(1, func(ports []int) (*process, error) {
		c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[0])
		p, err := startProcess("kube-apiserver", c.path("kube-apiserver.log"), nil, c.Bin.KubeAPIServer,
			"--etcd-servers="+c.etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]),
			"--tls-cert-file="+c.path("pki", "apiserver.crt"), "--tls-private-key-file="+c.path("pki", "apiserver.key"),
			"--client-ca-file="+c.CAFile,
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+c.path("pki", "sa.pub"),
			"--service-account-signing-key-file="+c.path("pki", "sa.key"),
			"--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=RBAC", "--allow-privileged=true",
			"--endpoint-reconciler-type=none", "--profiling=false", "--cert-dir="+c.path("apiserver-certs"))
		if err != nil {
			return nil, err
		}
		return p, p.waitReady(ctx, httpProbe(client, c.Server+"/readyz", "ok"))
	})
	if err != nil {
		return err
	}
	c.apiserver = p
	if err := c.writeKubeconfigs(); err != nil {
		return err
	}
	return c.WaitFor(ctx, "the default namespace", func(ctx context.Context) error {
		_, stderr, err := c.KubectlContext(ctx, "", "get", "namespace", "default")
		return errorWith(err, stderr)
	})
}

// stop stops the processes the cluster started, the last started first, and
// logs the end of their logs when t failed.
func (c *Cluster) stop(t testing.TB) {
	for _, p := range []*process{c.gatekeeper, c.apiserver, c.etcd} {
		if p == nil {
			continue
		}
		p.stop(stopGrace)
		if t.Failed() {
			t.Logf("testcluster: the end of %s's log (%s):\n%s", p.name, p.logPath, p.logTail(40))
		}
	}
	if c.metricsSink != nil {
		c.metricsSink.Close()
	}
}

// path returns the path of elem under the cluster's directory.
func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.Dir}, elem...)...)
}

// errorWith returns err with stderr appended, or nil when err is nil.
func errorWith(err error, stderr string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %s", err, stderr)
}
