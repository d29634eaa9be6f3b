//go:build tools

// Package tools pins the version of the cosign CLI (sigstore/cosign v2) that
// internal/testratify drives to sign images as users do.
package tools

import (
	_ "github.com/sigstore/cosign/v2/cmd/cosign"
)
