//go:build tools

// Package vuln pins the vulnerability scanner (govulncheck) and the Go
// vulnerability database (golang.org/x/vulndb, whose data/osv holds every
// report) that `make vulncheck` builds and scans with, offline.
package vuln

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "golang.org/x/vulndb/cmd/gendb"
)
