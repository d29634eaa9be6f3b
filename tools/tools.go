//go:build tools

// Package tools pins the versions of the command-line tools the tests drive.
package tools

import (
	_ "github.com/notaryproject/notation/cmd/notation"
)
