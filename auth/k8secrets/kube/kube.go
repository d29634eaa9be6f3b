// Package kube reads Secrets and ServiceAccounts with client-go for
// auth/k8secrets. It is its own package so that only builds that want the
// Kubernetes client (-tags k8s) link it.
package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/openratify/ratify/errdef"
)

// Cluster reads through a client-go clientset. It implements
// k8secrets.Cluster.
type Cluster struct {
	Client kubernetes.Interface
}

// Connect returns a Cluster using the in-cluster configuration, or
// $KUBECONFIG (then ~/.kube/config) outside a cluster.
func Connect() (*Cluster, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes client configuration: %v: %w", err, errdef.ErrInvalidConfig)
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return &Cluster{Client: cs}, nil
}

// Secret returns the type and data of a Secret.
func (c *Cluster) Secret(ctx context.Context, namespace, name string) (string, map[string][]byte, error) {
	s, err := c.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", nil, classify(err)
	}
	return string(s.Type), s.Data, nil
}

// ImagePullSecrets returns the names of a ServiceAccount's imagePullSecrets.
func (c *Cluster) ImagePullSecrets(ctx context.Context, namespace, serviceAccount string) ([]string, error) {
	sa, err := c.Client.CoreV1().ServiceAccounts(namespace).Get(ctx, serviceAccount, metav1.GetOptions{})
	if err != nil {
		return nil, classify(err)
	}
	names := make([]string, 0, len(sa.ImagePullSecrets))
	for _, r := range sa.ImagePullSecrets {
		names = append(names, r.Name)
	}
	return names, nil
}

func classify(err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%v: %w", err, errdef.ErrNotFound)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("%v (may ratify's service account read it?): %w", err, errdef.ErrInvalidConfig)
	default:
		return fmt.Errorf("kubernetes API: %v: %w", err, errdef.ErrRegistryUnavailable)
	}
}
