package attestation

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/errdef"
)

const vulnType = "https://cosign.sigstore.dev/attestation/vuln/v1"

// vulnPolicy allows vulnerability reports of trivy with no critical
// finding.
const vulnPolicy = `package ratify.attestation

import rego.v1

default allow := false

allow if {
	input.statement.predicate.scanner.uri == "pkg:github/aquasecurity/trivy"
	input.statement.predicate.scanner.result.criticalCount == 0
}
`

func vulnReport(scanner string, critical any) map[string]any {
	return map[string]any{"scanner": map[string]any{"uri": scanner, "result": map[string]any{"criticalCount": critical}}}
}

func TestVerifyRego(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	tests := []struct {
		name      string
		policy    string
		predicate any
		want      bool
		reason    string
		target    error // Verify's error
	}{
		{"allow", vulnPolicy, vulnReport("pkg:github/aquasecurity/trivy", 0), true, "", nil},
		{"deny", vulnPolicy, vulnReport("pkg:github/aquasecurity/trivy", 3), false, "denies the statement (allow is false)", nil},
		{"other scanner", vulnPolicy, vulnReport("pkg:github/anchore/grype", 0), false, "allow is false", nil},
		{"undefined", "package ratify.attestation\nallow if input.statement.predicate.ok\n", map[string]any{}, false, "allow is undefined", nil},
		{"statement fields", "package ratify.attestation\nallow if {\n\tinput.statement._type == \"" + StatementV1 + "\"\n\tinput.statement.subject[0].digest.sha256 == \"" +
			image.Digest.Encoded() + "\"\n}\n", map[string]any{}, true, "", nil},
		{"large numbers keep their precision", "package ratify.attestation\nallow if input.statement.predicate.n == 12345678901234567890\n",
			map[string]any{"n": uint64(12345678901234567890)}, true, "", nil},
		{"builtin error", "package ratify.attestation\nallow if to_number(input.statement.predicate.x) > 1\n", map[string]any{"x": "not a number"},
			false, "", errors.New("to_number")},
		{"conflict", "package ratify.attestation\nallow := true if input.statement.predicate\nallow := false if input.statement.predicate\n",
			map[string]any{}, false, "", errors.New("conflict")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, keyConfig([]string{k.file}, Predicate{PredicateType: vulnType, Rego: tt.policy}), Options{})
			desc, f := inToto(t, k.envelope(t, statementJSON(t, image.Digest, vulnType, tt.predicate)))
			r, err := v.Verify(context.Background(), subject, desc, f)
			if tt.target != nil {
				if err == nil || !strings.Contains(err.Error(), tt.target.Error()) {
					t.Fatalf("Verify = %+v, %v; want an error about %v", r, err, tt.target)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.IsSuccess != tt.want || !strings.Contains(r.ErrorReason, tt.reason) {
				t.Fatalf("IsSuccess = %v, ErrorReason %q; want %v, %q", r.IsSuccess, r.ErrorReason, tt.want, tt.reason)
			}
		})
	}
}

// TestVerifyRegoWithSLSA checks that a predicate's SLSA checks and its Rego
// policy must both pass.
func TestVerifyRegoWithSLSA(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	policy := Predicate{PredicateType: PredicateSLSAProvenanceV1, SLSA: &SLSA{BuilderID: githubBuilder},
		Rego: "package ratify.attestation\nallow if input.statement.predicate.buildDefinition.internalParameters.github.event_name == \"push\"\n"}
	v := newVerifier(t, keyConfig([]string{k.file}, policy), Options{})
	for _, tt := range []struct {
		builder string
		want    bool
	}{{githubBuilder, true}, {"https://builder.example", false}} {
		desc, f := inToto(t, k.envelope(t, statementJSON(t, image.Digest, PredicateSLSAProvenanceV1, githubProvenance(tt.builder, sourceRepo, sourceRef))))
		r := mustVerify(t, v, desc, f)
		if r.IsSuccess != tt.want {
			t.Fatalf("builder %s: %+v", tt.builder, r)
		}
		if tt.want && len(statements(t, r)[0].Checks) != 2 {
			t.Errorf("checks %q", statements(t, r)[0].Checks)
		}
	}
}

// TestRegoRefused checks the policies New refuses.
func TestRegoRefused(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	tests := []struct {
		name   string
		policy string
		text   string
	}{
		{"syntax", "package ratify.attestation\nallow if {", "rego"},
		{"Rego v0", "package ratify.attestation\nallow { true }\n", "rego"},
		{"other package", "package ratify.policy\nallow := true\n", "not ratify.attestation"},
		{"http.send", "package ratify.attestation\nallow if http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1/\"}).status_code == 200\n", "http.send"},
		{"net.lookup_ip_addr", "package ratify.attestation\nallow if count(net.lookup_ip_addr(\"localhost\")) > 0\n", "net.lookup_ip_addr"},
		{"opa.runtime", "package ratify.attestation\nallow if opa.runtime().env.HOME\n", "opa.runtime"},
		{"not a boolean", "package ratify.attestation\nallow := \"yes\"\n", "never a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(keyConfig([]string{k.file}, Predicate{PredicateType: vulnType, Rego: tt.policy}), Options{})
			if !errors.Is(err, errdef.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.text) || !strings.HasPrefix(err.Error(), "predicates[0]: rego: ") {
				t.Fatalf("New = %v, want a configuration error about %q", err, tt.text)
			}
		})
	}
}

func TestRegoFile(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vuln.rego"), []byte(vulnPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, keyConfig([]string{k.file}, Predicate{PredicateType: vulnType, RegoFile: "vuln.rego"}), Options{BaseDir: dir})
	desc, f := inToto(t, k.envelope(t, statementJSON(t, image.Digest, vulnType, vulnReport("pkg:github/aquasecurity/trivy", 0))))
	if r := mustVerify(t, v, desc, f); !r.IsSuccess {
		t.Fatalf("report %+v", r)
	}
	if _, err := New(keyConfig([]string{k.file}, Predicate{PredicateType: vulnType, RegoFile: "absent.rego"}), Options{BaseDir: dir}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("New with a missing rego file = %v", err)
	}
}

// TestRegoBounded checks that a policy that runs too long is stopped: no
// verdict, and the error says it timed out.
func TestRegoBounded(t *testing.T) {
	k := newKey(t, "ecdsa-p256")
	slow := "package ratify.attestation\nallow if count([x | some x in numbers.range(1, 100000000); x % 7 == 0]) > 0\n"
	desc, f := inToto(t, k.envelope(t, statementJSON(t, image.Digest, vulnType, map[string]any{})))

	v := newVerifier(t, keyConfig([]string{k.file}, Predicate{PredicateType: vulnType, Rego: slow}), Options{RegoTimeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := v.Verify(context.Background(), subject, desc, f)
	if !errors.Is(err, errdef.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Fatalf("Verify = %v after %s; want a timeout", err, time.Since(start))
	}

	v = newVerifier(t, keyConfig([]string{k.file}, Predicate{PredicateType: vulnType, Rego: slow}), Options{RegoTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = v.Verify(ctx, subject, desc, f)
	if !errors.Is(err, errdef.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify under an expiring context = %v", err)
	}
}
