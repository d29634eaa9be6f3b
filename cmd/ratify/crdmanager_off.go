//go:build !k8s

package main

import (
	"context"
	"fmt"

	"github.com/openratify/ratify/errdef"
)

// runCRDManager refuses --enable-crd-manager in a binary built without the
// Kubernetes controllers (the build tag k8s), which keeps the command line
// tool's start-up free of the Kubernetes libraries.
func runCRDManager(context.Context, crdSetup) error {
	return fmt.Errorf("--enable-crd-manager: this ratify was built without the Kubernetes controllers; "+
		"build it with `go build -tags k8s ./cmd/ratify` (the container image is): %w", errdef.ErrUnsupported)
}
