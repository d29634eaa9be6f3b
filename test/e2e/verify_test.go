package e2e

import (
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// result is the JSON `ratify verify` prints: the verification result of
// Ratify v1's provider, format version 0.2.0.
type result struct {
	Version         string   `json:"version"`
	IsSuccess       bool     `json:"isSuccess"`
	TraceID         string   `json:"traceID"`
	VerifierReports []report `json:"verifierReports"`
}

// report is one verifier report of a result.
type report struct {
	Subject         string         `json:"subject"`
	IsSuccess       bool           `json:"isSuccess"`
	VerifierName    string         `json:"verifierName"`
	ArtifactType    string         `json:"artifactType"`
	ReferenceDigest string         `json:"referenceDigest"`
	Message         string         `json:"message"`
	ErrorReason     string         `json:"errorReason"`
	Extensions      map[string]any `json:"extensions"`
}

// verify runs `ratify verify -s ref -c config [args]`, asserts that it
// exited with want (exitPassed or exitFailed) and that its output is what
// that exit code promises, and returns the parsed result.
func verify(t *testing.T, ref, config string, want int, args ...string) result {
	t.Helper()
	o := ratify(t, append([]string{"verify", "-s", ref, "-c", config}, args...)...)
	wantExit(t, o, want)
	var res result
	if err := json.Unmarshal([]byte(o.stdout), &res); err != nil {
		t.Fatalf("stdout is not a result: %v: %s", err, o)
	}
	if res.Version != "0.2.0" || res.TraceID == "" {
		t.Errorf("version %q, traceID %q; want 0.2.0 and a trace ID", res.Version, res.TraceID)
	}
	if res.IsSuccess != (want == exitPassed) {
		t.Errorf("isSuccess = %v with exit code %d", res.IsSuccess, o.code)
	}
	wantStderr := ""
	if want == exitFailed {
		wantStderr = "ratify: " + ref + " failed verification\n"
	}
	if want == exitFailed && len(res.VerifierReports) == 0 {
		// Nothing to read the reason from in the result: stderr says it.
		if !strings.HasPrefix(o.stderr, "ratify: "+ref+" failed verification: no artifact ") || strings.Count(o.stderr, "\n") != 1 {
			t.Errorf("stderr = %q, want one line saying nothing checkable is attached", o.stderr)
		}
	} else if o.stderr != wantStderr {
		t.Errorf("stderr = %q, want %q", o.stderr, wantStderr)
	}
	return res
}

// wantReports fails the test now unless res holds n reports.
func wantReports(t *testing.T, res result, n int) {
	t.Helper()
	if len(res.VerifierReports) != n {
		t.Fatalf("%d verifier reports, want %d: %+v", len(res.VerifierReports), n, res.VerifierReports)
	}
}

// wantSignedBy checks a successful notation report on the signature
// manifest sig, made by signer, whose certificate issuer is issuer.
func wantSignedBy(t *testing.T, rep report, sig string, signer, issuer *testpki.Certificate) {
	t.Helper()
	if !rep.IsSuccess || rep.VerifierName != "notation" || rep.ArtifactType != notationType || rep.ReferenceDigest != sig {
		t.Errorf("report = %+v; want a success of verifier notation on %s of type %s", rep, sig, notationType)
	}
	want := map[string]string{
		"Issuer":       issuer.Cert.Subject.String(),
		"SN":           signer.Cert.Subject.String(),
		"serialNumber": signer.Cert.SerialNumber.Text(16),
	}
	for k, v := range want {
		if rep.Extensions[k] != v {
			t.Errorf("extensions[%s] = %v, want %q", k, rep.Extensions[k], v)
		}
	}
}

func TestVerifyNotationSignature(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		for _, format := range []string{"jws", "cose"} {
			t.Run(format, func(t *testing.T) {
				ref, root, signer := signed(t, r, k, "app-"+format, "--signature-format", format)
				subject, _, _ := strings.Cut(ref, "@")
				sigs := signatureManifests(t, r, k, "app-"+format, digestOf(ref))
				if len(sigs) != 1 {
					t.Fatalf("registry lists %d signatures, want 1", len(sigs))
				}
				config := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}})
				// By digest, and by tag (which ratify resolves and pins).
				for _, query := range []string{ref, subject + ":v1"} {
					res := verify(t, query, config, exitPassed)
					wantReports(t, res, 1)
					wantSignedBy(t, res.VerifierReports[0], sigs[0].String(), signer, root)
					if got := res.VerifierReports[0].Subject; got != ref {
						t.Errorf("verify %s: report subject %q, want %q", query, got, ref)
					}
				}
			})
		}
	})
}

func TestVerifyIntermediateCA(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		root := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
		inter := must(root.NewIntermediateCA(testpki.CertOptions{}))(t)
		signer := must(inter.NewCodeSigning(testpki.CertOptions{}))(t)
		n := newNotation(t)
		n.AddKey("leaf", signer) // the chain file holds leaf, intermediate and root
		_, ref := pushImage(t, r, "chained")
		n.Sign("leaf", ref, storeFlags(k)...)

		res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}}), exitPassed)
		wantReports(t, res, 1)
		sig := signatureManifests(t, r, k, "chained", digestOf(ref))[0]
		wantSignedBy(t, res.VerifierReports[0], sig.String(), signer, inter)
	})
}

func TestVerifyTimestamped(t *testing.T) {
	tsa := must(testpki.NewTSA())(t)
	t.Cleanup(func() { _ = tsa.Close() })
	tsaRoot := writePEMFile(t, tsa.Root)
	otherTSA := must(testpki.NewRootCA(testpki.CertOptions{}))(t)

	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, root, signer := signed(t, r, k, "stamped", "--timestamp-url", tsa.URL, "--timestamp-root-cert", tsaRoot)

		res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}, TSA: tsa.Root}), exitPassed)
		wantReports(t, res, 1)
		rep := res.VerifierReports[0]
		wantSignedBy(t, rep, signatureManifests(t, r, k, "stamped", digestOf(ref))[0].String(), signer, root)
		if ts, _ := rep.Extensions["timestamp"].(map[string]any); ts == nil || ts["verified"] != true {
			t.Errorf("extensions.timestamp = %v, want a verified timestamp", rep.Extensions["timestamp"])
		}

		// The timestamp is checked: a tsa trust store with another root fails it.
		res = verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}, TSA: otherTSA.Cert}), exitFailed)
		wantReports(t, res, 1)
		if rep := res.VerifierReports[0]; rep.IsSuccess || !strings.Contains(rep.ErrorReason, "timestamp") {
			t.Errorf("report = %+v, want a failed timestamp", rep)
		}
	})
}

func TestVerifyAnyAndAll(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		root, trusted := newSigner(t)
		_, stranger := newSigner(t)
		n := newNotation(t)
		n.AddKey("stranger", stranger)
		n.AddKey("trusted", trusted)
		_, ref := pushImage(t, r, "twice")
		n.Sign("stranger", ref, storeFlags(k)...)
		n.Sign("trusted", ref, append(storeFlags(k), "--signature-format", "cose")...)
		if sigs := signatureManifests(t, r, k, "twice", digestOf(ref)); len(sigs) != 2 {
			t.Fatalf("registry lists %d signatures, want 2", len(sigs))
		}

		res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}, Rule: "any"}), exitPassed)
		wantReports(t, res, 2)
		if passed := countPassed(res); passed != 1 {
			t.Errorf("%d reports passed, want 1: %+v", passed, res.VerifierReports)
		}

		res = verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}, Rule: "all"}), exitFailed)
		wantReports(t, res, 2)
		if passed := countPassed(res); passed != 1 {
			t.Errorf("%d reports passed, want 1: %+v", passed, res.VerifierReports)
		}
	})
}

// countPassed returns how many reports of res are successes.
func countPassed(res result) int {
	n := 0
	for _, rep := range res.VerifierReports {
		if rep.IsSuccess {
			n++
		}
	}
	return n
}
