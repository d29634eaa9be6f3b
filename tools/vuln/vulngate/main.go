// Command vulngate decides whether a govulncheck scan (its -format json
// stream on stdin) fails the build.
//
// govulncheck fails on every reachable vulnerability, including those in the
// standard library, which the Go that happens to build the tests carries and
// no change to go.mod can fix. vulngate splits the two:
//
//   - a vulnerability in a required module that the code calls fails;
//   - one in the standard library fails unless it is fixed in the Go that
//     builds the release binaries (-release-go, the Dockerfile's GO_VERSION),
//     in which case it is listed as a warning: the shipped binary has the fix.
//
// Vulnerabilities in modules or packages the code does not call are counted
// but do not fail, as with govulncheck itself.
//
//	govulncheck -format json ./... | vulngate -release-go 1.26.10
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/mod/semver"
)

// The parts of govulncheck's JSON protocol (v1) that vulngate reads.
type message struct {
	Config  *config  `json:"config,omitempty"`
	OSV     *osv     `json:"osv,omitempty"`
	Finding *finding `json:"finding,omitempty"`
}

type config struct {
	ProtocolVersion string `json:"protocol_version"`
	GoVersion       string `json:"go_version"`
	ScanLevel       string `json:"scan_level"`
}

type osv struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
}

type finding struct {
	OSV          string   `json:"osv"`
	FixedVersion string   `json:"fixed_version"`
	Trace        []*frame `json:"trace"`
}

type frame struct {
	Module   string    `json:"module"`
	Version  string    `json:"version"`
	Package  string    `json:"package"`
	Function string    `json:"function"`
	Receiver string    `json:"receiver"`
	Position *position `json:"position"`
}

type position struct {
	Filename string `json:"filename"`
	Line     int    `json:"line"`
}

// Modules under which govulncheck reports the Go distribution itself.
func isGo(module string) bool { return module == "stdlib" || module == "toolchain" }

// A vuln is one advisory as it affects one module.
type vuln struct {
	ID, Summary     string
	Module, Version string
	Fixed           string
	Called          bool
	Example         string // the code's own call that reaches it
}

// verdict is what vulngate concluded from one scan.
type verdict struct {
	GoVersion string
	Failing   []vuln // called, and not fixed in what is shipped
	Warnings  []vuln // standard library, fixed in the release Go
	Uncalled  int    // advisories in required code that is never called
}

// What judge refuses: input that is not a govulncheck JSON stream, a scan
// that cannot tell called code from imported code, a release Go that is no
// version.
var (
	errNoScan    = errors.New("no govulncheck scan in the input (expected the -format json stream)")
	errScanLevel = errors.New("the scan cannot tell called code from imported code; run govulncheck with -scan symbol")
	errReleaseGo = errors.New("not a Go version")
)

// judge reads a govulncheck JSON stream and sorts its findings. releaseGo
// is the Go version release binaries are built with ("1.26.10" or
// "go1.26.10"); empty means the Go of the scan.
func judge(r io.Reader, releaseGo string) (*verdict, error) {
	dec := json.NewDecoder(io.LimitReader(r, 1<<30))
	var cfg *config
	summaries := map[string]string{}
	vulns := map[string]*vuln{} // by ID and module
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading govulncheck output: %w: %w", err, errNoScan)
		}
		switch {
		case m.Config != nil:
			cfg = m.Config
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			f := m.Finding
			at := f.Trace[0]
			key := f.OSV + " " + at.Module
			v := vulns[key]
			if v == nil {
				v = &vuln{ID: f.OSV, Module: at.Module, Version: at.Version, Fixed: f.FixedVersion}
				vulns[key] = v
			}
			if at.Function != "" && !v.Called {
				v.Called = true
				v.Example = example(f.Trace)
			}
		}
	}
	if cfg == nil {
		return nil, errNoScan
	}
	if cfg.ScanLevel != "" && cfg.ScanLevel != "symbol" {
		return nil, fmt.Errorf("scan level %q: %w", cfg.ScanLevel, errScanLevel)
	}
	release := releaseGo
	if release == "" {
		release = cfg.GoVersion
	}
	releaseSemver := goSemver(release)
	if !semver.IsValid(releaseSemver) {
		return nil, fmt.Errorf("release Go version %q: %w", release, errReleaseGo)
	}

	out := &verdict{GoVersion: cfg.GoVersion}
	for _, v := range vulns {
		v.Summary = summaries[v.ID]
		switch {
		case !v.Called:
			out.Uncalled++
		case isGo(v.Module) && v.Fixed != "" && semver.Compare(goSemver(v.Fixed), releaseSemver) <= 0:
			out.Warnings = append(out.Warnings, *v)
		default:
			out.Failing = append(out.Failing, *v)
		}
	}
	byID := func(s []vuln) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].ID != s[j].ID {
				return s[i].ID < s[j].ID
			}
			return s[i].Module < s[j].Module
		})
	}
	byID(out.Failing)
	byID(out.Warnings)
	return out, nil
}

// goSemver turns "go1.26.10", "1.26.10" or "v1.26.10" into "v1.26.10".
func goSemver(v string) string {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "go"), "v")
	return "v" + v
}

// example describes the call from the scanned code that reaches the
// vulnerable symbol: the last frame of the trace, which is the code's own.
func example(trace []*frame) string {
	sym := func(f *frame) string {
		s := f.Package + "." + f.Function
		if f.Receiver != "" {
			s = f.Package + "." + strings.TrimPrefix(f.Receiver, "*") + "." + f.Function
		}
		return s
	}
	own := trace[len(trace)-1]
	s := sym(own) + " reaches " + sym(trace[0])
	if own.Position != nil {
		s = fmt.Sprintf("%s:%d: %s", own.Position.Filename, own.Position.Line, s)
	}
	return s
}

func report(w io.Writer, v *verdict, releaseGo string) {
	for _, x := range v.Warnings {
		fmt.Fprintf(w, "warning: %s in %s@%s (%s): fixed in %s, which release binaries are built with (%s)\n",
			x.ID, x.Module, x.Version, x.Summary, x.Fixed, releaseGo)
	}
	for _, x := range v.Failing {
		fixed := "no fix yet"
		if x.Fixed != "" {
			fixed = "fixed in " + x.Fixed
		}
		fmt.Fprintf(w, "FAIL: %s in %s@%s (%s): %s\n    %s\n", x.ID, x.Module, x.Version, x.Summary, fixed, x.Example)
	}
	fmt.Fprintf(w, "vulngate: %d called and unfixed, %d standard-library advisories fixed in the release Go, %d in code that is never called (scanned with %s)\n",
		len(v.Failing), len(v.Warnings), v.Uncalled, v.GoVersion)
}

func main() {
	releaseGo := flag.String("release-go", "", "Go version release binaries are built with (default: the scan's Go)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: govulncheck -format json ./... | vulngate [-release-go VERSION]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	v, err := judge(os.Stdin, *releaseGo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	rel := *releaseGo
	if rel == "" {
		rel = v.GoVersion
	}
	report(os.Stdout, v, rel)
	if len(v.Failing) > 0 {
		os.Exit(1)
	}
}
