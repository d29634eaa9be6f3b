//go:build tools

// Package tools pins the version of the oras CLI (oras.land/oras) that
// internal/testratify drives to attach SBOMs and vulnerability reports to
// images as users do (`oras attach`).
package tools

import (
	_ "oras.land/oras/cmd/oras"
)
