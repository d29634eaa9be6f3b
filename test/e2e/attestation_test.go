package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// slsaPredicateType is the predicate type of SLSA provenance v1.
const slsaPredicateType = "https://slsa.dev/provenance/v1"

// Who built the image, as slsaProvenance says.
const (
	slsaBuilder    = "https://github.com/actions/runner/github-hosted"
	slsaRepository = "https://github.com/example/app"
	slsaRef        = "refs/heads/main"
)

// slsaProvenance is an SLSA provenance v1 predicate as GitHub's
// actions/attest-build-provenance writes it for a release workflow
// (abridged).
const slsaProvenance = `{
  "buildDefinition": {
    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
    "externalParameters": {
      "workflow": {"ref": "refs/heads/main", "repository": "https://github.com/example/app", "path": ".github/workflows/release.yml"}
    },
    "internalParameters": {
      "github": {"event_name": "push", "repository_id": "123456789", "repository_owner_id": "987654"}
    },
    "resolvedDependencies": [
      {"uri": "git+https://github.com/example/app@refs/heads/main", "digest": {"gitCommit": "8d2d6f2c4b3e1a0f9e8d7c6b5a4f3e2d1c0b9a8f"}}
    ]
  },
  "runDetails": {
    "builder": {"id": "https://github.com/actions/runner/github-hosted"},
    "metadata": {"invocationId": "https://github.com/example/app/actions/runs/1234567890/attempts/1"}
  }
}`

// cosignAttest runs `cosign attest` offline: predicate (JSON), of
// predicate type typ (cosign's --type), signed with key, attached to ref
// as a Sigstore bundle (--new-bundle-format), with no transparency log.
// It fails the test unless cosign succeeds without leaving loopback.
func cosignAttest(t *testing.T, c *testratify.Cosign, key testratify.CosignKey, ref, typ, predicate string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "predicate.json")
	if err := os.WriteFile(file, []byte(predicate), 0o600); err != nil {
		t.Fatal(err)
	}
	run := c.Run(nil, "attest", "--yes", "--allow-http-registry", "--tlog-upload=false",
		"--new-bundle-format", "--use-signing-config=false",
		"--key", key.Private, "--type", typ, "--predicate", file, ref)
	if run.Err != nil || len(run.Egress) > 0 {
		t.Fatalf("cosign attest (egress %v): %s", run.Egress, run)
	}
}

// verifyAttestationArgs are the arguments of `cosign verify-attestation`
// that check, offline, what cosignAttest made: the reference ratify is
// compared with.
func verifyAttestationArgs(c *testratify.Cosign, key testratify.CosignKey, ref, typ string) []string {
	return []string{"verify-attestation", "--allow-http-registry", "--insecure-ignore-tlog=true", "--offline=true",
		"--new-bundle-format", "--trusted-root", c.TrustedRoot(), "--key", key.Public, "--type", typ, ref}
}

// attestationConfig writes a config.json whose one verifier is the
// attestation verifier trusting the public key file pub, with predicates
// as its predicates, and whose policy requires every report to pass.
func attestationConfig(t *testing.T, pub string, predicates ...map[string]any) string {
	t.Helper()
	path := writeConfig(t, testratify.ConfigOptions{})
	var cfg map[string]any
	if err := json.Unmarshal(must(os.ReadFile(path))(t), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["verifier"].(map[string]any)["plugins"] = []any{map[string]any{
		"name": "attestation", "keys": []any{map[string]any{"file": pub}}, "predicates": predicates}}
	cfg["policy"].(map[string]any)["plugin"] = map[string]any{"name": "configPolicy",
		"artifactVerificationPolicies": map[string]string{bundleType: "all", "default": "all"}}
	if err := os.WriteFile(path, must(json.Marshal(cfg))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// slsaPredicate is a predicates[] entry for SLSA provenance v1 with the
// checks slsa (builderID, sourceRepository, sourceRef).
func slsaPredicate(slsa map[string]string) map[string]any {
	return map[string]any{"predicateType": slsaPredicateType, "slsa": slsa}
}

// statementResult is one statement of an attestation report's extensions.
type statementResult struct {
	PredicateType string   `json:"predicateType"`
	IsSuccess     bool     `json:"isSuccess"`
	Policy        string   `json:"policy"`
	Checks        []string `json:"checks"`
	Error         string   `json:"error"`
	Signer        struct {
		Key struct {
			Name string `json:"name"`
		} `json:"key"`
	} `json:"signer"`
}

// attestationReport runs `ratify verify`, asserts the exit code and returns
// the one attestation report and its statements.
func attestationReport(t *testing.T, ref, config string, exit int) (report, []statementResult) {
	t.Helper()
	res := verify(t, ref, config, exit)
	wantReports(t, res, 1)
	rep := res.VerifierReports[0]
	if rep.VerifierName != "attestation" || rep.ArtifactType != bundleType || rep.Subject != ref || rep.IsSuccess != (exit == exitPassed) {
		t.Errorf("report %+v, want the attestation verifier's on a Sigstore bundle of %s", rep, ref)
	}
	var ext struct {
		Statements []statementResult `json:"statements"`
	}
	if err := json.Unmarshal(must(json.Marshal(rep.Extensions))(t), &ext); err != nil || len(ext.Statements) != 1 {
		t.Fatalf("extensions %v: want one statement (%v)", rep.Extensions, err)
	}
	return rep, ext.Statements
}

// TestVerifySLSAProvenance verifies, through the CLI, SLSA provenance v1
// that the cosign CLI signed with a key and attached as a Sigstore bundle
// (`cosign attest --new-bundle-format`, no transparency log), on registries
// with and without the referrers API: it passes when the builder, source
// repository and ref are those expected and the key is trusted, and fails,
// saying which, when one is not.
func TestVerifySLSAProvenance(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		c := newCosign(t)
		key, other := c.GenerateKeyPair("builder"), c.GenerateKeyPair("other")
		_, ref := pushImage(t, r, "slsa")
		cosignAttest(t, c, key, ref, "slsaprovenance1", slsaProvenance)
		if run := c.Run(nil, verifyAttestationArgs(c, key, ref, "slsaprovenance1")...); run.Err != nil || len(run.Egress) > 0 {
			t.Fatalf("the reference, cosign verify-attestation, refuses the attestation (egress %v): %s", run.Egress, run)
		}
		expected := map[string]string{"builderID": slsaBuilder, "sourceRepository": slsaRepository, "sourceRef": slsaRef}

		_, sts := attestationReport(t, ref, attestationConfig(t, key.Public, slsaPredicate(expected)), exitPassed)
		if st := sts[0]; !st.IsSuccess || st.PredicateType != slsaPredicateType || st.Policy != slsaPredicateType ||
			len(st.Checks) != 3 || st.Signer.Key.Name != key.Public {
			t.Errorf("statement %+v, want SLSA provenance passing three checks, signed by %s", st, key.Public)
		}

		for _, tc := range []struct {
			name, field, value, reason string
		}{
			{"wrong builder", "builderID", "https://builder.example/trusted",
				`builder "` + slsaBuilder + `" is not "https://builder.example/trusted"`},
			{"wrong repository", "sourceRepository", "https://github.com/example/other", "source repository"},
			{"wrong ref", "sourceRef", "refs/tags/v1.0.0", `source ref "refs/heads/main"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := maps.Clone(expected)
				want[tc.field] = tc.value
				rep, sts := attestationReport(t, ref, attestationConfig(t, key.Public, slsaPredicate(want)), exitFailed)
				if !strings.Contains(rep.ErrorReason, tc.reason) || sts[0].IsSuccess || !strings.Contains(sts[0].Error, tc.reason) {
					t.Errorf("errorReason %q, statement %+v: want the reason %q", rep.ErrorReason, sts[0], tc.reason)
				}
			})
		}
		t.Run("replayed onto another image", func(t *testing.T) {
			// The same signed bundle, attached to another image of the
			// repository: its statement is not about that image.
			subjects := listReferrers(t, r, k, "slsa", digestOf(ref))
			if len(subjects) != 1 {
				t.Fatalf("referrers %+v, want the one bundle cosign attached", subjects)
			}
			status, raw := registryGet(t, r, "/v2/slsa/manifests/"+subjects[0].Digest.String(), ocispec.MediaTypeImageManifest)
			if status != http.StatusOK {
				t.Fatalf("GET the bundle manifest: %d %s", status, raw)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			otherImage := r.PushImage(t, "slsa", "v2")
			m.Subject = &otherImage
			r.PushManifest(t, "slsa", "", ocispec.MediaTypeImageManifest, must(json.Marshal(m))(t))
			otherRef := r.Host() + "/slsa@" + otherImage.Digest.String()
			_, sts := attestationReport(t, otherRef, attestationConfig(t, key.Public, slsaPredicate(expected)), exitFailed)
			if !strings.Contains(sts[0].Error, "not about the image "+otherImage.Digest.String()) {
				t.Errorf("statement %+v: want it refused as about another image", sts[0])
			}
		})
		t.Run("untrusted key", func(t *testing.T) {
			_, sts := attestationReport(t, ref, attestationConfig(t, other.Public, slsaPredicate(expected)), exitFailed)
			if sts[0].IsSuccess || sts[0].Error == "" || len(sts[0].Checks) != 0 {
				t.Errorf("statement %+v: want a signature failure before any predicate check", sts[0])
			}
		})
		t.Run("other predicate type only", func(t *testing.T) {
			config := attestationConfig(t, key.Public, map[string]any{"predicateType": "https://spdx.dev/Document"})
			_, sts := attestationReport(t, ref, config, exitFailed)
			if !strings.Contains(sts[0].Error, "no predicate policy accepts") {
				t.Errorf("statement %+v: want SLSA provenance refused for want of a policy", sts[0])
			}
		})
	})
}

// reviewPredicateType is a predicate type of the test's own: code review
// evidence.
const reviewPredicateType = "https://example.com/attestations/review/v1"

// reviewPolicy allows a review with at least two approvals of a commit on
// main (Rego v1).
const reviewPolicy = `package ratify.attestation

default allow := false

allow if {
	input.statement.predicateType == "https://example.com/attestations/review/v1"
	count(input.statement.predicate.approvals) >= 2
	input.statement.predicate.branch == "main"
}
`

// slsaTagPolicy allows SLSA provenance of builds from a tag only.
const slsaTagPolicy = `package ratify.attestation

allow if startswith(input.statement.predicate.buildDefinition.externalParameters.workflow.ref, "refs/tags/")
`

// slsaMainPolicy allows SLSA provenance of builds of main by GitHub's
// hosted runners.
const slsaMainPolicy = `package ratify.attestation

allow if {
	input.statement.predicate.runDetails.builder.id == "https://github.com/actions/runner/github-hosted"
	input.statement.predicate.buildDefinition.externalParameters.workflow.ref == "refs/heads/main"
}
`

// TestVerifyAttestationRego checks predicates' Rego policies through the
// CLI: a predicate type of one's own, attested with the cosign CLI, passes
// or fails as its policy says; a Rego check on SLSA provenance adds to the
// SLSA checks; and a policy that would call out is refused at load (exit 2).
func TestVerifyAttestationRego(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		c := newCosign(t)
		key := c.GenerateKeyPair("builder")
		_, approved := pushImage(t, r, "review/approved")
		cosignAttest(t, c, key, approved, reviewPredicateType, `{"branch": "main", "approvals": ["alice", "bob"]}`)
		_, lonely := pushImage(t, r, "review/lonely")
		cosignAttest(t, c, key, lonely, reviewPredicateType, `{"branch": "main", "approvals": ["alice"]}`)
		review := attestationConfig(t, key.Public, map[string]any{"predicateType": reviewPredicateType, "rego": reviewPolicy})

		_, sts := attestationReport(t, approved, review, exitPassed)
		if st := sts[0]; st.PredicateType != reviewPredicateType || !slices.Contains(st.Checks, "the Rego policy allows the statement") {
			t.Errorf("statement %+v, want the review allowed by the Rego policy", st)
		}
		_, sts = attestationReport(t, lonely, review, exitFailed)
		if st := sts[0]; st.IsSuccess || st.PredicateType != reviewPredicateType || st.Error == "" {
			t.Errorf("statement %+v, want the review denied by the Rego policy, with a reason", st)
		}

		_, built := pushImage(t, r, "review/built")
		cosignAttest(t, c, key, built, "slsaprovenance1", slsaProvenance)
		both := func(rego string) string {
			p := slsaPredicate(map[string]string{"builderID": slsaBuilder})
			p["rego"] = rego
			return attestationConfig(t, key.Public, p)
		}
		_, sts = attestationReport(t, built, both(slsaMainPolicy), exitPassed)
		if len(sts[0].Checks) != 2 {
			t.Errorf("checks %q, want the SLSA builder check and the Rego policy", sts[0].Checks)
		}
		_, sts = attestationReport(t, built, both(slsaTagPolicy), exitFailed)
		if st := sts[0]; st.IsSuccess || len(st.Checks) != 1 {
			t.Errorf("statement %+v, want the SLSA builder check passed and the Rego policy denying", st)
		}

		callsOut := attestationConfig(t, key.Public, map[string]any{"predicateType": reviewPredicateType,
			"rego": "package ratify.attestation\n\nallow if http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1/\"}).status_code == 200\n"})
		wantCouldNotVerify(t, ratify(t, "verify", "-s", approved, "-c", callsOut), "http.send")
	})
}
