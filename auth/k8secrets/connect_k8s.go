//go:build k8s

package k8secrets

import "github.com/openratify/ratify/auth/k8secrets/kube"

// Connect returns a Cluster reached with the pod's service account, or
// through $KUBECONFIG outside a cluster. It reads no object yet; a missing
// configuration is an error wrapping errdef.ErrInvalidConfig.
func Connect() (Cluster, error) {
	return kube.Connect()
}
