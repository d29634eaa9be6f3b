//go:build !k8s

package k8secrets

import (
	"fmt"

	"github.com/openratify/ratify/errdef"
)

// Connect reports errdef.ErrUnsupported: this build of ratify leaves out
// the Kubernetes client to keep the command line tool's start-up short.
// Build with -tags k8s (bin/ratify-k8s, the container image) for k8Secrets.
func Connect() (Cluster, error) {
	return nil, fmt.Errorf("k8Secrets needs the Kubernetes client; this ratify was built without it (build with -tags k8s, as the container image is): %w", errdef.ErrUnsupported)
}
