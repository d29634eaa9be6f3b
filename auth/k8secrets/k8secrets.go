// Package k8secrets provides registry credentials read from Kubernetes
// Secrets: Ratify v1's authProvider "k8Secrets". It reads the Secrets of
// type kubernetes.io/dockerconfigjson (and the older kubernetes.io/dockercfg)
// named in the configuration, then those named by a ServiceAccount's
// imagePullSecrets, and gives each registry host only the credential
// written for that host.
//
// The Secrets are re-read when the cached copy is older than Options.TTL
// (in the background, without delaying requests) and, at most once per
// Options.RereadAfterRefusal, after a registry answers 401 or 403 (see
// Refused), so that a rotated pull secret is picked up without a restart.
//
// The Kubernetes API is reached through a Cluster. Connect returns one built
// on client-go (in-cluster, or $KUBECONFIG) when ratify is built with
// -tags k8s; the command line tool is built without the Kubernetes client,
// and there Connect reports errdef.ErrUnsupported.
package k8secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/auth/token"
	"github.com/openratify/ratify/errdef"
)

// Defaults of Options.
const (
	DefaultServiceAccountName = "default"
	DefaultTTL                = 5 * time.Minute
	DefaultRereadAfterRefusal = 10 * time.Second
)

// Secret types holding docker credentials.
const (
	TypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	TypeDockerConfig     = "kubernetes.io/dockercfg"
)

// Cluster reads Secrets and ServiceAccounts. Implementations return errors
// wrapping errdef.ErrNotFound for objects that do not exist.
type Cluster interface {
	// Secret returns the type and data of a Secret.
	Secret(ctx context.Context, namespace, name string) (typ string, data map[string][]byte, err error)
	// ImagePullSecrets returns the Secret names of a ServiceAccount's imagePullSecrets.
	ImagePullSecrets(ctx context.Context, namespace, serviceAccount string) ([]string, error)
}

// SecretRef names a Secret; an empty Namespace means Options.Namespace.
type SecretRef struct {
	Name, Namespace string
}

// Options configure a Provider. The zero value reads the "default"
// ServiceAccount of ratify's namespace.
type Options struct {
	// Namespace is ratify's namespace, where the ServiceAccount and the
	// Secrets without a namespace live; empty means $RATIFY_NAMESPACE, then
	// the pod's own namespace, then "default".
	Namespace string
	// ServiceAccountName is the ServiceAccount whose imagePullSecrets are
	// read after Secrets; empty means DefaultServiceAccountName.
	ServiceAccountName string
	// Secrets are read first, in order; the first credential for a host wins.
	Secrets []SecretRef
	// TTL is how long the Secrets read are used before they are read again.
	// Zero means DefaultTTL.
	TTL time.Duration
	// RereadAfterRefusal is the least time between two re-reads caused by
	// registries refusing credentials. Zero means DefaultRereadAfterRefusal.
	RereadAfterRefusal time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Provider is the k8Secrets credential provider.
type Provider struct {
	cluster Cluster
	opts    Options
	cache   *token.Cache[map[string]auth.Credential]

	mu       sync.Mutex
	lastRead time.Time
}

// New returns a Provider reading through cluster. It reads nothing until
// a credential is asked for.
func New(cluster Cluster, opts Options) *Provider {
	if opts.Namespace == "" {
		opts.Namespace = ownNamespace()
	}
	if opts.ServiceAccountName == "" {
		opts.ServiceAccountName = DefaultServiceAccountName
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.RereadAfterRefusal <= 0 {
		opts.RereadAfterRefusal = DefaultRereadAfterRefusal
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Provider{cluster: cluster, opts: opts}
	p.cache = token.New(p.read, token.Options{Now: opts.Now, RefreshBefore: opts.TTL / 2, MaxEntries: 1})
	return p
}

// Credential is an auth.CredentialFunc: the credential the Secrets hold for
// host exactly, or auth.EmptyCredential.
func (p *Provider) Credential(ctx context.Context, host string) (auth.Credential, error) {
	creds, err := p.cache.Get(ctx, "")
	if err != nil {
		return auth.EmptyCredential, fmt.Errorf("k8Secrets credentials for %s: %w", host, err)
	}
	return creds[strings.ToLower(host)], nil
}

// Refused tells the provider that host answered 401 or 403: the Secrets are
// read again on the next request unless they were read less than
// RereadAfterRefusal ago. It does not block.
func (p *Provider) Refused(host string) {
	p.mu.Lock()
	stale := !p.opts.Now().Before(p.lastRead.Add(p.opts.RereadAfterRefusal))
	p.mu.Unlock()
	if stale {
		p.cache.Invalidate("")
	}
}

// read is the token.FetchFunc: every configured Secret, then the
// ServiceAccount's, merged so that the first credential for a host wins.
func (p *Provider) read(ctx context.Context, _ string) (token.Token[map[string]auth.Credential], error) {
	refs := append([]SecretRef(nil), p.opts.Secrets...)
	names, err := p.cluster.ImagePullSecrets(ctx, p.opts.Namespace, p.opts.ServiceAccountName)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
	case err != nil:
		return token.Token[map[string]auth.Credential]{}, fmt.Errorf("service account %s/%s: %w", p.opts.Namespace, p.opts.ServiceAccountName, err)
	}
	for _, n := range names {
		refs = append(refs, SecretRef{Name: n, Namespace: p.opts.Namespace})
	}
	creds := make(map[string]auth.Credential)
	for _, ref := range refs {
		ns := ref.Namespace
		if ns == "" {
			ns = p.opts.Namespace
		}
		typ, data, err := p.cluster.Secret(ctx, ns, ref.Name)
		if errors.Is(err, errdef.ErrNotFound) {
			continue // a pull secret may be created after ratify starts
		}
		if err != nil {
			return token.Token[map[string]auth.Credential]{}, fmt.Errorf("secret %s/%s: %w", ns, ref.Name, err)
		}
		found, err := parseSecret(typ, data)
		if err != nil {
			return token.Token[map[string]auth.Credential]{}, fmt.Errorf("secret %s/%s: %w", ns, ref.Name, err)
		}
		for host, c := range found {
			if _, ok := creds[host]; !ok {
				creds[host] = c
			}
		}
	}
	now := p.opts.Now()
	p.mu.Lock()
	p.lastRead = now
	p.mu.Unlock()
	return token.Token[map[string]auth.Credential]{Value: creds, Expiry: now.Add(p.opts.TTL)}, nil
}

// ownNamespace is $RATIFY_NAMESPACE, the pod's namespace, or "default".
func ownNamespace() string {
	if ns := os.Getenv("RATIFY_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}
