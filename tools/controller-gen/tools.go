//go:build tools

// Package tools pins controller-gen (sigs.k8s.io/controller-tools), which
// generates ratify's CRD manifests and deepcopy functions from the
// kubebuilder markers in api/v1beta1. `make generate` builds it from here.
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
