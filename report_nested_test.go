package ratify_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/openratify/ratify"
)

// The nested form of a result: one entry per artifact however many
// verifiers looked at it, nested artifacts grouped the same way, and v1's
// JSON shape (verifierReports left out when empty at the top, both lists
// always present in an entry, "name", "message" and "extensions" always
// present in a verifier report).
func TestResultNested(t *testing.T) {
	const img = "registry.example/app@sha256:aaaa"
	sbomRef := "registry.example/app@sha256:bbbb"
	sig := func(verifier string, ok bool) ratify.Report {
		return ratify.Report{Subject: sbomRef, IsSuccess: ok, Name: verifier, VerifierName: verifier, Type: "notation", VerifierType: "notation",
			ReferenceDigest: "sha256:cccc", ArtifactType: "application/vnd.cncf.notary.signature", Message: "m"}
	}
	res := ratify.Result{
		Version:   ratify.ResultVersion,
		IsSuccess: true,
		TraceID:   "trace",
		Timestamp: time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC),
		VerifierReports: []ratify.Report{
			{Subject: img, IsSuccess: true, Name: "sbom", VerifierName: "sbom", Type: "sbom", VerifierType: "sbom",
				ReferenceDigest: "sha256:bbbb", ArtifactType: "application/spdx+json", Message: "ok",
				NestedResults: []ratify.Report{sig("notation-a", true), sig("notation-b", false)}},
			{Subject: img, IsSuccess: false, Name: "notation-a", VerifierName: "notation-a", Type: "notation", VerifierType: "notation",
				ReferenceDigest: "sha256:dddd", ArtifactType: "application/vnd.cncf.notary.signature", Message: "bad",
				ErrorReason: "why", Remediation: "fix", Extensions: map[string]any{"Issuer": "CN=ca"}},
			// A second verifier of the SBOM, which verified the same
			// nested signature with notation-a (kept once) and notation-c.
			{Subject: img, IsSuccess: true, Name: "schema", VerifierName: "schema", Type: "schemavalidator", VerifierType: "schemavalidator",
				ReferenceDigest: "sha256:bbbb", ArtifactType: "application/spdx+json",
				NestedResults: []ratify.Report{sig("notation-a", true), sig("notation-c", true)}},
		},
	}
	got, err := json.MarshalIndent(res.Nested(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": "1.1.0",
  "isSuccess": true,
  "traceID": "trace",
  "timestamp": "2026-11-28T10:00:00.123456789Z",
  "verifierReports": [
    {
      "subject": "registry.example/app@sha256:aaaa",
      "referenceDigest": "sha256:bbbb",
      "artifactType": "application/spdx+json",
      "verifierReports": [
        {
          "isSuccess": true,
          "message": "ok",
          "name": "sbom",
          "verifierName": "sbom",
          "type": "sbom",
          "verifierType": "sbom",
          "extensions": null
        },
        {
          "isSuccess": true,
          "message": "",
          "name": "schema",
          "verifierName": "schema",
          "type": "schemavalidator",
          "verifierType": "schemavalidator",
          "extensions": null
        }
      ],
      "nestedReports": [
        {
          "subject": "registry.example/app@sha256:bbbb",
          "referenceDigest": "sha256:cccc",
          "artifactType": "application/vnd.cncf.notary.signature",
          "verifierReports": [
            {
              "isSuccess": true,
              "message": "m",
              "name": "notation-a",
              "verifierName": "notation-a",
              "type": "notation",
              "verifierType": "notation",
              "extensions": null
            },
            {
              "isSuccess": false,
              "message": "m",
              "name": "notation-b",
              "verifierName": "notation-b",
              "type": "notation",
              "verifierType": "notation",
              "extensions": null
            },
            {
              "isSuccess": true,
              "message": "m",
              "name": "notation-c",
              "verifierName": "notation-c",
              "type": "notation",
              "verifierType": "notation",
              "extensions": null
            }
          ],
          "nestedReports": []
        }
      ]
    },
    {
      "subject": "registry.example/app@sha256:aaaa",
      "referenceDigest": "sha256:dddd",
      "artifactType": "application/vnd.cncf.notary.signature",
      "verifierReports": [
        {
          "isSuccess": false,
          "message": "bad",
          "errorReason": "why",
          "remediation": "fix",
          "name": "notation-a",
          "verifierName": "notation-a",
          "type": "notation",
          "verifierType": "notation",
          "extensions": {
            "Issuer": "CN=ca"
          }
        }
      ],
      "nestedReports": []
    }
  ]
}`
	if string(got) != want {
		t.Errorf("Nested() JSON =\n%s\nwant\n%s", got, want)
	}
}

func TestResultNestedEmpty(t *testing.T) {
	res := ratify.Result{Version: ratify.ResultVersion, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	got, err := json.Marshal(res.Nested())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"version":"1.1.0","isSuccess":false,"timestamp":"2026-01-02T03:04:05Z"}`; string(got) != want {
		t.Errorf("Nested() JSON = %s, want %s", got, want)
	}
	if n := ratify.NestReports(nil); n == nil || len(n) != 0 {
		t.Errorf("NestReports(nil) = %#v, want an empty, non-nil slice", n)
	}
}

// Reports that carry only the older "name" and "type" fields fill both
// names, as v1 does.
func TestNestReportsOlderNames(t *testing.T) {
	got, err := json.Marshal(ratify.NestReports([]ratify.Report{{ReferenceDigest: "sha256:1", Name: "n", Type: "t"}}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"name":"n","verifierName":"n","type":"t","verifierType":"t"`)) {
		t.Errorf("NestReports JSON = %s", got)
	}
}
