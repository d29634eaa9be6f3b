package rego_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/internal/testfiles"
	"github.com/openratify/ratify/policy/rego"
)

const (
	subject  = "registry.example/app@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	sigType  = "application/vnd.cncf.notary.signature"
	sbomType = "application/spdx+json"
)

// report is one (artifact, verifier) report as the Executor makes it.
func report(digest, artifactType, verifier string, ok bool, nested ...ratify.Report) ratify.Report {
	return ratify.Report{
		Subject:         subject,
		IsSuccess:       ok,
		Name:            verifier,
		VerifierName:    verifier,
		Type:            verifier,
		VerifierType:    verifier,
		ReferenceDigest: digest,
		ArtifactType:    artifactType,
		NestedResults:   nested,
	}
}

// nestedReport is a report on an artifact attached to the artifact parent.
func nestedReport(parent, digest, artifactType, verifier string, ok bool) ratify.Report {
	r := report(digest, artifactType, verifier, ok)
	r.Subject = "registry.example/app@" + parent
	return r
}

// Policies in the shapes of Ratify v1's documentation: Rego v0, as v1 users
// wrote them, and Rego v1.
const (
	// Every report succeeds and every artifact has at least one report: the
	// "all" policy of Ratify v1's documentation, walking the whole input.
	allValid = `package ratify.policy

default valid := false

valid {
  not has_failure(input)
}

has_failure(tree) {
  [path, v] := walk(tree)
  path[count(path) - 1] == "isSuccess"
  v == false
}

has_failure(tree) {
  [path, v] := walk(tree)
  path[count(path) - 1] == "verifierReports"
  count(v) == 0
}
`
	// For each artifact type attached, one artifact of that type has a
	// successful report ("any" per type), nested artifacts included; Rego
	// v1 keywords without an import, as Ratify v1's later examples.
	anyPerType = `package ratify.policy

default valid := false

valid if {
	count(input.verifierReports) > 0
	not some_type_fails(input.verifierReports)
}

some_type_fails(artifacts) if {
	[path, v] := walk(artifacts)
	is_array(v)
	count(path) > 0
	path[count(path) - 1] == "nestedReports"
	type_fails(v)
}

some_type_fails(artifacts) if type_fails(artifacts)

type_fails(artifacts) if {
	t := artifacts[_].artifactType
	not type_passes(artifacts, t)
}

type_passes(artifacts, t) if {
	some a in artifacts
	a.artifactType == t
	some r in a.verifierReports
	r.isSuccess
}
`
	// At least one Notary Project signature verified by a notation verifier.
	oneNotation = `package ratify.policy

import future.keywords.in

default valid := false

valid {
  some artifact in input.verifierReports
  artifact.artifactType == "application/vnd.cncf.notary.signature"
  some r in artifact.verifierReports
  r.verifierType == "notation"
  r.isSuccess == true
}
`
	// An SBOM is attached and verified (Rego v1).
	sbomPresent = `package ratify.policy

default valid := false

valid if {
	some artifact in input.verifierReports
	artifact.artifactType == "application/spdx+json"
	every r in artifact.verifierReports { r.isSuccess }
	count(artifact.verifierReports) > 0
}
`
	// A verified SBOM whose own signature verified (Rego v1).
	signedSBOM = `package ratify.policy

default valid := false

valid if {
	some artifact in input.verifierReports
	artifact.artifactType == "application/spdx+json"
	some r in artifact.verifierReports
	r.isSuccess
	some sig in artifact.nestedReports
	sig.artifactType == "application/vnd.cncf.notary.signature"
	sig.subject == concat("@", ["registry.example/app", artifact.referenceDigest])
	some s in sig.verifierReports
	s.isSuccess
}
`
)

func TestDecideDocumentedPolicies(t *testing.T) {
	goodSig := report("sha256:aa", sigType, "notation", true)
	badSig := report("sha256:ab", sigType, "notation", false)
	goodSBOM := report("sha256:bb", sbomType, "sbom", true)
	signedGoodSBOM := report("sha256:bb", sbomType, "sbom", true, nestedReport("sha256:bb", "sha256:cc", sigType, "notation", true))
	badlySignedSBOM := report("sha256:bb", sbomType, "sbom", true, nestedReport("sha256:bb", "sha256:cc", sigType, "notation", false))
	tests := []struct {
		name    string
		policy  string
		dialect string
		reports []ratify.Report
		want    bool
	}{
		{"all valid: one good signature", allValid, "v0", []ratify.Report{goodSig}, true},
		{"all valid: one bad among good", allValid, "v0", []ratify.Report{goodSig, badSig}, false},
		{"all valid: nothing attached", allValid, "v0", nil, false},
		{"all valid: nested failure fails", allValid, "v0", []ratify.Report{goodSig, badlySignedSBOM}, false},
		{"all valid: nested success passes", allValid, "v0", []ratify.Report{goodSig, signedGoodSBOM}, true},
		{"any per type: one good of each", anyPerType, "v1", []ratify.Report{badSig, goodSig, goodSBOM}, true},
		{"any per type: no good sbom", anyPerType, "v1", []ratify.Report{goodSig, report("sha256:bb", sbomType, "sbom", false)}, false},
		{"any per type: nested signature failed", anyPerType, "v1", []ratify.Report{goodSig, badlySignedSBOM}, false},
		{"any per type: nothing attached", anyPerType, "v1", nil, false},
		{"one notation: good and bad", oneNotation, "v0", []ratify.Report{badSig, goodSig}, true},
		{"one notation: only bad", oneNotation, "v0", []ratify.Report{badSig}, false},
		{"one notation: only an SBOM", oneNotation, "v0", []ratify.Report{goodSBOM}, false},
		{"sbom present", sbomPresent, "v1", []ratify.Report{goodSig, goodSBOM}, true},
		{"sbom absent", sbomPresent, "v1", []ratify.Report{goodSig}, false},
		{"sbom failed", sbomPresent, "v1", []ratify.Report{report("sha256:bb", sbomType, "sbom", false)}, false},
		{"signed sbom: signature verified", signedSBOM, "v1", []ratify.Report{goodSig, signedGoodSBOM}, true},
		{"signed sbom: unsigned sbom", signedSBOM, "v1", []ratify.Report{goodSig, goodSBOM}, false},
		{"signed sbom: signature failed", signedSBOM, "v1", []ratify.Report{badlySignedSBOM}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rego.New(rego.Config{Name: "regoPolicy", Policy: tt.policy}, rego.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Dialect(); got != tt.dialect {
				t.Errorf("Dialect = %s, want %s", got, tt.dialect)
			}
			got, err := p.Evaluate(context.Background(), tt.reports)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if got != tt.want {
				t.Errorf("Evaluate = %v, want %v", got, tt.want)
			}
			if d := p.Decide(context.Background(), tt.reports); d != tt.want {
				t.Errorf("Decide = %v, want %v", d, tt.want)
			}
		})
	}
}

// The input seen by the policy is the nested tree with v1's field names.
func TestInputFieldNames(t *testing.T) {
	const policy = `package ratify.policy
import rego.v1
default valid := false
valid if {
	a := input.verifierReports[0]
	a.subject == "` + subject + `"
	a.referenceDigest == "sha256:bb"
	a.artifactType == "application/spdx+json"
	r := a.verifierReports[0]
	r.name == "sbom"
	r.verifierName == "sbom"
	r.type == "sbom"
	r.verifierType == "sbom"
	r.message == "ok"
	r.errorReason == "why"
	r.remediation == "fix"
	r.extensions.k == "v"
	n := a.nestedReports[0]
	n.subject == "registry.example/app@sha256:bb"
	n.nestedReports == []
}
`
	p, err := rego.New(rego.Config{Policy: policy}, rego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := report("sha256:bb", sbomType, "sbom", true, nestedReport("sha256:bb", "sha256:cc", sigType, "notation", true))
	r.Message, r.ErrorReason, r.Remediation, r.Extensions = "ok", "why", "fix", map[string]any{"k": "v"}
	if ok, err := p.Evaluate(context.Background(), []ratify.Report{r}); err != nil || !ok {
		t.Errorf("Evaluate = %v, %v; want true: the input does not have v1's field names", ok, err)
	}
}

func TestPassthrough(t *testing.T) {
	p, err := rego.New(rego.Config{Policy: `package ratify.policy
valid := true`, PassthroughEnabled: true}, rego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reports := []ratify.Report{report("sha256:aa", sigType, "notation", true)}
	ok, err := p.Evaluate(context.Background(), reports)
	if err != nil || ok {
		t.Errorf("Evaluate = %v, %v; want false, nil: passthrough leaves the decision to Gatekeeper", ok, err)
	}
	if p.Decide(context.Background(), reports) {
		t.Error("Decide = true with passthrough enabled")
	}
	if got := p.ResultVersion(); got != ratify.NestedResultVersion {
		t.Errorf("ResultVersion = %q, want %q", got, ratify.NestedResultVersion)
	}
}

func TestPassthroughStillCompiles(t *testing.T) {
	_, err := rego.New(rego.Config{Policy: "package ratify.policy\nvalid {", PassthroughEnabled: true}, rego.Options{})
	if !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("err = %v, want ErrInvalidConfig", err)
	}
}

func TestCouldNotDecide(t *testing.T) {
	tests := []struct {
		name, policy, want string
	}{
		{"undefined", "package ratify.policy\nvalid { input.verifierReports[0].artifactType == \"x\" }", "undefined"},
		{"not a boolean at run time", "package ratify.policy\nvalid := input.verifierReports", "not a boolean"},
		{"conflicting values", "package ratify.policy\nvalid := true { true }\nvalid := false { true }", "eval_conflict_error"},
	}
	reports := []ratify.Report{report("sha256:aa", sigType, "notation", true)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rego.New(rego.Config{Policy: tt.policy}, rego.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ok, err := p.Evaluate(context.Background(), reports)
			if !errors.Is(err, errdef.ErrInvalidConfig) || ok {
				t.Fatalf("Evaluate = %v, %v; want false and ErrInvalidConfig", ok, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if p.Decide(context.Background(), reports) {
				t.Error("Decide = true for a policy that could not decide")
			}
		})
	}
}

// A policy cannot make ratify reach out: the built-ins that would are
// refused when the module compiles, and nothing reaches the server.
func TestRefusedBuiltins(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"type":"object"}`))
	}))
	defer srv.Close()
	tests := []struct{ name, builtin, body string }{
		{"http.send", "http.send", `http.send({"method": "GET", "url": "` + srv.URL + `"}).status_code == 200`},
		{"http.send in a helper", "http.send", `fetch(u) := http.send({"method": "GET", "url": u})` + "\n" + `valid if fetch("` + srv.URL + `").status_code == 200`},
		{"net.lookup_ip_addr", "net.lookup_ip_addr", `count(net.lookup_ip_addr("localhost")) > 0`},
		{"opa.runtime", "opa.runtime", `opa.runtime().env.HOME != ""`},
		{"json.match_schema", "json.match_schema", `[ok, _] := json.match_schema({}, {"$ref": "` + srv.URL + `/schema.json"})` + "\nok"},
		{"json.verify_schema", "json.verify_schema", `[ok, _] := json.verify_schema({"$ref": "file:///etc/passwd"})` + "\nok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := "package ratify.policy\nimport rego.v1\ndefault valid := false\nvalid if {\n" + tt.body + "\n}\n"
			if strings.Contains(tt.body, "valid if") {
				policy = "package ratify.policy\nimport rego.v1\ndefault valid := false\n" + tt.body + "\n"
			}
			_, err := rego.New(rego.Config{Policy: policy}, rego.Options{})
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.builtin) || !strings.Contains(err.Error(), "policy.rego:") {
				t.Errorf("error %q does not name %s and its line", err, tt.builtin)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server was reached %d times", n)
	}
}

// A schema in a METADATA annotation is not fetched while compiling.
func TestAnnotationSchemaNotFetched(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"type":"object"}`))
	}))
	defer srv.Close()
	policy := `# METADATA
# schemas:
#   - input: {"$ref": "` + srv.URL + `/input.json"}
package ratify.policy
default valid := false
`
	if _, err := rego.New(rego.Config{Policy: policy}, rego.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the schema server was reached %d times", n)
	}
}

// An expensive policy is cut short by the deadline, and that is an error,
// never a pass.
func TestEvaluationBounded(t *testing.T) {
	const expensive = `package ratify.policy
import rego.v1
default valid := false
valid if {
	n := count([x | some i in numbers.range(1, 100000); some j in numbers.range(1, 100000); x := i * j])
	n > 0
}
`
	reports := []ratify.Report{report("sha256:aa", sigType, "notation", true)}
	t.Run("caller's deadline", func(t *testing.T) {
		p, err := rego.New(rego.Config{Policy: expensive}, rego.Options{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		ok, err := p.Evaluate(ctx, reports)
		if !errors.Is(err, errdef.ErrTimeout) || ok {
			t.Fatalf("Evaluate = %v, %v; want false and ErrTimeout", ok, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("evaluation stopped after %s", d)
		}
	})
	t.Run("Options.Timeout", func(t *testing.T) {
		p, err := rego.New(rego.Config{Policy: expensive}, rego.Options{Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ok, err := p.Evaluate(context.Background(), reports)
		if !errors.Is(err, errdef.ErrTimeout) || ok {
			t.Fatalf("Evaluate = %v, %v; want false and ErrTimeout", ok, err)
		}
		if p.Decide(context.Background(), reports) {
			t.Error("Decide = true after a timeout")
		}
	})
	t.Run("canceled", func(t *testing.T) {
		p, err := rego.New(rego.Config{Policy: expensive}, rego.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if ok, err := p.Evaluate(ctx, reports); !errors.Is(err, context.Canceled) || ok {
			t.Fatalf("Evaluate = %v, %v; want false and context.Canceled", ok, err)
		}
	})
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, policy string
		want         []string
	}{
		{"malformed", "package ratify.policy\n\ndefault valid := false\nvalid {\n  input.x ==\n}\n", []string{"policy.rego:", "rego_parse_error", "Rego v0", "Rego v1"}},
		{"wrong package", "package example\ndefault valid := false\n", []string{"policy.rego:1", "package is example", "package ratify.policy"}},
		{"no valid rule", "package ratify.policy\nallow := true\n", []string{`no rule "valid"`}},
		{"never a boolean", "package ratify.policy\nvalid := \"yes\"\n", []string{"string", "never a boolean"}},
		{"unsafe variable", "package ratify.policy\nvalid if x > 1\n", []string{"policy.rego:2", "unsafe"}},
		{"only comments", "# nothing\n", []string{"Rego"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rego.New(rego.Config{Policy: tt.policy}, rego.Options{})
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestPolicyPath(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.rego")
	if err := os.WriteFile(good, []byte(allValid), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.rego")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.rego")
	if err := os.WriteFile(big, []byte("package ratify.policy\n"+strings.Repeat("#", rego.MaxPolicySize)), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := rego.New(rego.Config{PolicyPath: good}, rego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Decide(context.Background(), []ratify.Report{report("sha256:aa", sigType, "notation", true)}) {
		t.Error("policy read from policyPath did not pass a good signature")
	}

	_, err = rego.New(rego.Config{PolicyPath: filepath.Join(dir, "missing.rego")}, rego.Options{})
	if !errors.Is(err, errdef.ErrInvalidConfig) || !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "policyPath:") {
		t.Errorf("missing file: err = %v, want policyPath: ... ErrInvalidConfig and fs.ErrNotExist", err)
	}
	if _, err = rego.New(rego.Config{PolicyPath: empty}, rego.Options{}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Errorf("empty file: err = %v, want ErrInvalidConfig", err)
	}
	if _, err = rego.New(rego.Config{PolicyPath: big}, rego.Options{}); !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Errorf("big file: err = %v, want ErrSizeExceedsLimit", err)
	}
	fifo := testfiles.Pipe(t, dir, "fifo.rego")
	if _, err = rego.New(rego.Config{PolicyPath: fifo}, rego.Options{}); !errors.Is(err, errdef.ErrInvalidConfig) || !errors.Is(err, limitedfile.ErrNotRegular) {
		t.Errorf("pipe: err = %v, want ErrInvalidConfig and ErrNotRegular", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   rego.Config
		field string // "" when valid
	}{
		{"inline", rego.Config{Name: "regoPolicy", Policy: "package ratify.policy"}, ""},
		{"path", rego.Config{PolicyPath: "/p.rego"}, ""},
		{"passthrough", rego.Config{Policy: "package ratify.policy", PassthroughEnabled: true}, ""},
		{"neither", rego.Config{Name: "regoPolicy"}, "policy:"},
		{"both", rego.Config{Policy: "package ratify.policy", PolicyPath: "/p.rego"}, "policy:"},
		{"blank", rego.Config{Policy: " \n\t"}, "policy:"},
		{"too big", rego.Config{Policy: strings.Repeat("#", rego.MaxPolicySize+1)}, "policy:"},
		{"other name", rego.Config{Name: "configPolicy", Policy: "package ratify.policy"}, "name:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.HasPrefix(err.Error(), tt.field) {
				t.Errorf("Validate = %v, want an ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}
}

// The whole tree is judged at the top; a nested subject is never failed on
// its own, so a report keeps its verifier's verdict.
func TestDecideNested(t *testing.T) {
	p, err := rego.New(rego.Config{Policy: allValid}, rego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.DecideNested(context.Background(), []ratify.Report{report("sha256:aa", sigType, "notation", false)}, []string{sigType}) {
		t.Error("DecideNested = false")
	}
}

func TestConcurrentEvaluation(t *testing.T) {
	p, err := rego.New(rego.Config{Policy: oneNotation}, rego.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := []ratify.Report{report("sha256:aa", sigType, "notation", true)}
	bad := []ratify.Report{report("sha256:aa", sigType, "notation", false)}
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			reports, want := good, true
			if i%2 == 1 {
				reports, want = bad, false
			}
			got, err := p.Evaluate(context.Background(), reports)
			if err == nil && got != want {
				err = errors.New("wrong verdict")
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
