package e2e

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// Artifact types of SBOMs and vulnerability reports, as Ratify v1's sbom
// and vulnerabilityreport verifiers take them.
const (
	spdxType  = "application/spdx+json"
	sarifType = "application/sarif+json"
)

// spdxSBOM is an SPDX 2.3 document as syft writes it for a small alpine
// image (abridged: fewer packages, no files).
const spdxSBOM = `{
 "spdxVersion": "SPDX-2.3",
 "dataLicense": "CC0-1.0",
 "SPDXID": "SPDXRef-DOCUMENT",
 "name": "alpine",
 "documentNamespace": "https://anchore.com/syft/image/alpine-5d1c3a36-2b0e-4c5e-9a0f-6c1e2d3f4a5b",
 "creationInfo": {"licenseListVersion": "3.22", "creators": ["Organization: Anchore, Inc", "Tool: syft-0.105.0"], "created": "2024-03-01T12:00:00Z"},
 "packages": [
  {"name": "busybox", "SPDXID": "SPDXRef-Package-apk-busybox", "versionInfo": "1.36.1-r0", "downloadLocation": "https://busybox.net/",
   "filesAnalyzed": false, "licenseConcluded": "NOASSERTION", "licenseDeclared": "GPL-2.0-only", "copyrightText": "NOASSERTION"},
  {"name": "musl", "SPDXID": "SPDXRef-Package-apk-musl", "versionInfo": "1.2.4-r0", "downloadLocation": "https://musl.libc.org/",
   "filesAnalyzed": false, "licenseConcluded": "NOASSERTION", "licenseDeclared": "MIT", "copyrightText": "NOASSERTION"},
  {"name": "libcrypto3", "SPDXID": "SPDXRef-Package-apk-libcrypto3", "versionInfo": "3.1.1-r1", "downloadLocation": "https://www.openssl.org/",
   "filesAnalyzed": false, "licenseConcluded": "NOASSERTION", "licenseDeclared": "Apache-2.0", "copyrightText": "NOASSERTION"}
 ],
 "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": "SPDXRef-Package-apk-busybox", "relationshipType": "DESCRIBES"}]
}`

// trivySARIF is a SARIF 2.1.0 log as `trivy image -f sarif` writes it for
// the same image (abridged: two vulnerabilities, one high, one medium).
const trivySARIF = `{
  "version": "2.1.0",
  "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json",
  "runs": [{
    "tool": {"driver": {"fullName": "Trivy Vulnerability Scanner", "informationUri": "https://github.com/aquasecurity/trivy", "name": "Trivy", "version": "0.50.0",
      "rules": [
        {"id": "CVE-2023-5363", "name": "OsPackageVulnerability", "shortDescription": {"text": "openssl: Incorrect cipher key and IV length processing"},
         "defaultConfiguration": {"level": "error"}, "helpUri": "https://avd.aquasec.com/nvd/cve-2023-5363",
         "help": {"text": "Vulnerability CVE-2023-5363\nSeverity: HIGH\nPackage: libcrypto3\nFixed Version: 3.1.4-r0\nLink: [CVE-2023-5363](https://avd.aquasec.com/nvd/cve-2023-5363)"},
         "properties": {"precision": "very-high", "security-severity": "7.5", "tags": ["vulnerability", "security", "HIGH"]}},
        {"id": "CVE-2023-42363", "name": "OsPackageVulnerability", "shortDescription": {"text": "busybox: use-after-free in awk"},
         "defaultConfiguration": {"level": "warning"}, "helpUri": "https://avd.aquasec.com/nvd/cve-2023-42363",
         "help": {"text": "Vulnerability CVE-2023-42363\nSeverity: MEDIUM\nPackage: busybox\nFixed Version: 1.36.1-r6\nLink: [CVE-2023-42363](https://avd.aquasec.com/nvd/cve-2023-42363)"},
         "properties": {"precision": "very-high", "security-severity": "5.5", "tags": ["vulnerability", "security", "MEDIUM"]}}
      ]}},
    "results": [
      {"ruleId": "CVE-2023-5363", "ruleIndex": 0, "level": "error",
       "message": {"text": "Package: libcrypto3\nInstalled Version: 3.1.1-r1\nVulnerability CVE-2023-5363\nSeverity: HIGH\nFixed Version: 3.1.4-r0"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "alpine", "uriBaseId": "ROOTPATH"}, "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}},
         "message": {"text": "alpine: libcrypto3@3.1.1-r1"}}]},
      {"ruleId": "CVE-2023-42363", "ruleIndex": 1, "level": "warning",
       "message": {"text": "Package: busybox\nInstalled Version: 1.36.1-r0\nVulnerability CVE-2023-42363\nSeverity: MEDIUM\nFixed Version: 1.36.1-r6"},
       "locations": [{"physicalLocation": {"artifactLocation": {"uri": "alpine", "uriBaseId": "ROOTPATH"}, "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}},
         "message": {"text": "alpine: busybox@1.36.1-r0"}}]}
    ],
    "columnKind": "utf16CodeUnits",
    "originalUriBaseIds": {"ROOTPATH": {"uri": "file:///"}}
  }]
}`

// treeResult is the result `ratify verify` prints, with the reports on
// each artifact's own referrers (Ratify v1's nestedResults).
type treeResult struct {
	IsSuccess       bool         `json:"isSuccess"`
	VerifierReports []treeReport `json:"verifierReports"`
}

type treeReport struct {
	report
	NestedResults []treeReport `json:"nestedResults"`
}

// supplyChain is an image, signed with the notation CLI, with an SPDX SBOM
// and a SARIF vulnerability report attached with the oras CLI.
type supplyChain struct {
	ref          string // the image's digest reference
	root         *testpki.Certificate
	sbom, report ocispec.Descriptor
}

// attachSupplyChain pushes an image to repo and signs it; attaches
// spdxSBOM and trivySARIF to it the way registry kind k keeps referrers
// (the referrers API, or the tag schema), the report with created as its
// creation time (now, when zero); and, with signArtifacts, signs both.
func attachSupplyChain(t *testing.T, r *testregistry.Registry, k registryKind, repo string, created time.Time, signArtifacts bool) supplyChain {
	t.Helper()
	root, signer := newSigner(t)
	n := newNotation(t)
	n.AddKey("e2e", signer)
	_, ref := pushImage(t, r, repo)
	n.Sign("e2e", ref, storeFlags(k)...)

	dir := t.TempDir()
	sbomFile, reportFile := filepath.Join(dir, "sbom.spdx.json"), filepath.Join(dir, "trivy.sarif.json")
	for file, data := range map[string]string{sbomFile: spdxSBOM, reportFile: trivySARIF} {
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spec := testratify.ReferrersTag
	if k.referrers {
		spec = testratify.ReferrersAPI
	}
	o := testratify.NewOras(t, orasBin)
	c := supplyChain{ref: ref, root: root}
	// As Ratify v1's walkthrough attaches them: the SBOM under oras's
	// default layer type, the report under SARIF's own.
	c.sbom = o.Attach(ref, testratify.Attachment{ArtifactType: spdxType, File: sbomFile, Spec: spec})
	report := testratify.Attachment{ArtifactType: sarifType, File: reportFile, MediaType: sarifType, Spec: spec}
	if !created.IsZero() {
		report.Annotations = map[string]string{ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339)}
	}
	c.report = o.Attach(ref, report)
	if signArtifacts {
		for _, a := range []ocispec.Descriptor{c.sbom, c.report} {
			n.Sign("e2e", r.Host()+"/"+repo+"@"+a.Digest.String(), storeFlags(k)...)
		}
	}
	return c
}

// supplyChainConfig writes a config.json that requires, of every image, a
// Notary Project signature chaining to root, and SBOMs and vulnerability
// reports that pass the sbom and vulnerabilityreport verifiers configured
// with sbom and vuln (Ratify v1's fields) and are themselves signed.
func supplyChainConfig(t *testing.T, root *x509.Certificate, sbom, vuln map[string]any) string {
	t.Helper()
	path := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root}, Rule: "all"})
	var cfg map[string]any
	if err := json.Unmarshal(must(os.ReadFile(path))(t), &cfg); err != nil {
		t.Fatal(err)
	}
	sbomEntry := map[string]any{"name": "sbom", "artifactTypes": spdxType, "nestedReferences": notationType}
	vulnEntry := map[string]any{"name": "vulnerabilityreport", "artifactTypes": sarifType, "nestedReferences": notationType}
	for k, v := range sbom {
		sbomEntry[k] = v
	}
	for k, v := range vuln {
		vulnEntry[k] = v
	}
	cfg["verifier"].(map[string]any)["plugins"] = []any{plugin(cfg, "verifier"), sbomEntry, vulnEntry}
	cfg["policy"].(map[string]any)["plugin"] = map[string]any{"name": "configPolicy",
		"artifactVerificationPolicies": map[string]string{notationType: "all", spdxType: "all", sarifType: "all"}}
	if err := os.WriteFile(path, must(json.Marshal(cfg))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verifyTree runs `ratify verify -s ref -c config`, asserts the exit code
// and decodes the result with its nested results.
func verifyTree(t *testing.T, ref, config string, exit int) treeResult {
	t.Helper()
	o := ratify(t, "verify", "-s", ref, "-c", config)
	wantExit(t, o, exit)
	var res treeResult
	if err := json.Unmarshal([]byte(o.stdout), &res); err != nil {
		t.Fatalf("stdout is not a result: %v: %s", err, o)
	}
	return res
}

// reportOf returns the one report of res by verifier name, failing the
// test now unless there is exactly one.
func reportOf(t *testing.T, res treeResult, verifier string) treeReport {
	t.Helper()
	var found []treeReport
	for _, r := range res.VerifierReports {
		if r.VerifierName == verifier {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d reports of verifier %s, want 1: %+v", len(found), verifier, res.VerifierReports)
	}
	return found[0]
}

// wantArtifactReport checks a report of verifier on artifact a, of
// artifactType: its verdict, and, when it passed and the artifact is
// signed, one successful nested notation report on the artifact's
// signature (an artifact that fails has its referrers left unverified).
func wantArtifactReport(t *testing.T, rep treeReport, a ocispec.Descriptor, artifactType string, pass, signed bool) {
	t.Helper()
	if rep.IsSuccess != pass || rep.ArtifactType != artifactType || rep.ReferenceDigest != a.Digest.String() {
		t.Errorf("report %+v: want isSuccess %t on %s of type %s", rep.report, pass, a.Digest, artifactType)
	}
	if !pass && (rep.ErrorReason == "" || rep.Message == "") {
		t.Errorf("failed report %+v without a reason", rep.report)
	}
	if !pass || !signed {
		return
	}
	if len(rep.NestedResults) != 1 || !rep.NestedResults[0].IsSuccess || rep.NestedResults[0].VerifierName != "notation" ||
		rep.NestedResults[0].ArtifactType != notationType {
		t.Errorf("nested results %+v, want one successful notation report on the artifact's signature", rep.NestedResults)
	}
}

// TestVerifySBOMAndVulnerabilityReport verifies, through the CLI, an image
// signed with the notation CLI and an SPDX SBOM and a Trivy SARIF report
// attached with the oras CLI and signed too, as Ratify v1's SBOM and
// vulnerability report walkthroughs do, on registries with and without
// the referrers API: the image passes when neither breaks a rule, and
// fails, saying which rule, when one does.
func TestVerifySBOMAndVulnerabilityReport(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		c := attachSupplyChain(t, r, k, "supply/alpine", time.Time{}, true)
		lenient := map[string]any{"disallowedLicenses": []string{"AGPL-3.0-only"}, "disallowedPackages": []any{map[string]string{"name": "openssl"}}}
		recent := map[string]any{"maximumAge": "24h", "disallowedSeverities": []string{"critical"}, "denylistCVEs": []string{"CVE-2021-44228"}}

		res := verifyTree(t, c.ref, supplyChainConfig(t, c.root.Cert, lenient, recent), exitPassed)
		if !res.IsSuccess || len(res.VerifierReports) != 3 {
			t.Fatalf("result %+v: want a pass with reports of notation, sbom and vulnerabilityreport", res)
		}
		if n := reportOf(t, res, "notation"); !n.IsSuccess {
			t.Errorf("image signature report %+v", n.report)
		}
		sbom := reportOf(t, res, "sbom")
		wantArtifactReport(t, sbom, c.sbom, spdxType, true, true)
		if ci, _ := sbom.Extensions["creationInfo"].(map[string]any); ci["created"] != "2024-03-01T12:00:00Z" {
			t.Errorf("sbom extensions %v, want the document's creationInfo", sbom.Extensions)
		}
		vuln := reportOf(t, res, "vulnerabilityreport")
		wantArtifactReport(t, vuln, c.report, sarifType, true, true)
		if vuln.Extensions["scanner"] != "trivy" || vuln.Extensions["createdAt"] == nil {
			t.Errorf("vulnerabilityreport extensions %v, want scanner trivy and createdAt", vuln.Extensions)
		}

		t.Run("disallowed package", func(t *testing.T) {
			strict := map[string]any{"disallowedPackages": []any{map[string]string{"name": "busybox", "version": "1.36.1-r0"}}}
			res := verifyTree(t, c.ref, supplyChainConfig(t, c.root.Cert, strict, recent), exitFailed)
			sbom := reportOf(t, res, "sbom")
			wantArtifactReport(t, sbom, c.sbom, spdxType, false, true)
			violations, _ := sbom.Extensions["packageViolations"].([]any)
			if v, _ := firstOf(violations)["Name"].(string); len(violations) != 1 || v != "busybox" {
				t.Errorf("packageViolations %v, want busybox", sbom.Extensions["packageViolations"])
			}
			wantArtifactReport(t, reportOf(t, res, "vulnerabilityreport"), c.report, sarifType, true, true)
		})
		t.Run("disallowed license", func(t *testing.T) {
			strict := map[string]any{"disallowedLicenses": []string{"GPL-2.0-only"}}
			res := verifyTree(t, c.ref, supplyChainConfig(t, c.root.Cert, strict, recent), exitFailed)
			sbom := reportOf(t, res, "sbom")
			wantArtifactReport(t, sbom, c.sbom, spdxType, false, true)
			violations, _ := sbom.Extensions["licenseViolations"].([]any)
			if l, _ := firstOf(violations)["License"].(string); len(violations) != 1 || l != "GPL-2.0-only" {
				t.Errorf("licenseViolations %v, want busybox's GPL-2.0-only", sbom.Extensions["licenseViolations"])
			}
		})
		t.Run("disallowed severity and CVE", func(t *testing.T) {
			strict := map[string]any{"disallowedSeverities": []string{"high"}, "denylistCVEs": []string{"CVE-2023-42363"}}
			res := verifyTree(t, c.ref, supplyChainConfig(t, c.root.Cert, lenient, strict), exitFailed)
			vuln := reportOf(t, res, "vulnerabilityreport")
			wantArtifactReport(t, vuln, c.report, sarifType, false, true)
			sev, _ := vuln.Extensions["severityViolations"].(map[string]any)
			cves, _ := vuln.Extensions["cveViolations"].([]any)
			if len(sev) != 1 || sev["CVE-2023-5363"] != "high" || !slices.Equal(cves, []any{"CVE-2023-42363"}) {
				t.Errorf("extensions %v, want CVE-2023-5363 as high and CVE-2023-42363 denied", vuln.Extensions)
			}
			wantArtifactReport(t, reportOf(t, res, "sbom"), c.sbom, spdxType, true, true)
		})
	})
}

// TestVerifyStaleVulnerabilityReport attaches a report whose created
// annotation, given to `oras attach`, is two days old: a maximum age of a
// day refuses it, and none lets it pass.
func TestVerifyStaleVulnerabilityReport(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		c := attachSupplyChain(t, r, k, "supply/stale", time.Now().Add(-48*time.Hour), true)
		res := verifyTree(t, c.ref, supplyChainConfig(t, c.root.Cert, nil, map[string]any{"maximumAge": "24h"}), exitFailed)
		vuln := reportOf(t, res, "vulnerabilityreport")
		wantArtifactReport(t, vuln, c.report, sarifType, false, true)
		if !strings.Contains(vuln.ErrorReason, "older than the maximum age") {
			t.Errorf("errorReason %q, want the report's age", vuln.ErrorReason)
		}
		verifyTree(t, c.ref, supplyChainConfig(t, c.root.Cert, nil, nil), exitPassed)
	})
}

// TestVerifyUnsignedSBOM attaches an SBOM and a report that pass every
// rule but are not signed: with nestedReferences naming Notary Project
// signatures, the image fails.
func TestVerifyUnsignedSBOM(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		c := attachSupplyChain(t, r, k, "supply/unsigned", time.Time{}, false)
		res := verifyTree(t, c.ref, supplyChainConfig(t, c.root.Cert, nil, nil), exitFailed)
		if n := reportOf(t, res, "notation"); !n.IsSuccess {
			t.Errorf("image signature report %+v", n.report)
		}
		// Each artifact passes its own rules (its report keeps the
		// verifier's message of success); it fails for want of a
		// signature on it.
		for name, passed := range map[string]string{"sbom": "SBOM verification success", "vulnerabilityreport": "vulnerability report validation succeeded"} {
			rep := reportOf(t, res, name)
			if rep.IsSuccess || !strings.Contains(rep.Message, passed) || len(rep.NestedResults) != 0 {
				t.Errorf("%s: report %+v with nested results %+v, want a failure for want of a signature", name, rep.report, rep.NestedResults)
			}
		}
	})
}

// firstOf returns the first of a decoded JSON array's objects, or nil.
func firstOf(items []any) map[string]any {
	if len(items) == 0 {
		return nil
	}
	m, _ := items[0].(map[string]any)
	return m
}
