package sbom

import (
	"context"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// Verify checks the SBOM whose manifest is artifact, attached to subject
// (ratify.Verifier): it reads the manifest, finds its one document layer
// (of the format's media type, or a generic one such as oras's default for
// files), reads the document and runs the deny lists over its packages.
// The format is the manifest's artifactType (its config's media type for
// manifests older than OCI image-spec v1.1).
//
// An SBOM that breaks a rule, is not a document of its format, or whose
// manifest is not an SBOM artifact, is a Report with IsSuccess false and a
// nil error. An error means no verdict: content could not be read, the
// manifest or document is larger than allowed
// (errdef.ErrSizeExceedsLimit, checked before it is fetched), or ctx
// ended.
func (v *Verifier) Verify(ctx context.Context, subject ratify.Subject, artifact ocispec.Descriptor, content ratify.Fetcher) (ratify.Report, error) {
	if artifact.Size > maxManifestSize {
		return ratify.Report{}, fmt.Errorf("SBOM manifest %s is %d bytes, more than %d: %w",
			artifact.Digest, artifact.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	raw, err := content.Fetch(ctx, artifact)
	if err != nil {
		return ratify.Report{}, fmt.Errorf("fetch SBOM manifest %s: %w", artifact.Digest, err)
	}
	a, problem := readManifest(raw)
	if problem != "" {
		return failure("the artifact is not an SBOM artifact", problem, attachRemedy), nil
	}
	if a.artifactType == "" {
		a.artifactType = artifact.ArtifactType
	}
	f, ok := formatOf(a.artifactType)
	if !ok {
		return failure(fmt.Sprintf("artifact type %q is not an SBOM format this verifier reads", a.artifactType),
			fmt.Sprintf("supported: %s, %s", ArtifactTypeSPDX, ArtifactTypeCycloneDX), attachRemedy), nil
	}
	layer, problem := documentLayer(a, f.mediaType())
	if problem != "" {
		return failure("the artifact holds no "+string(f)+" document", problem, attachRemedy), nil
	}
	if layer.Size > v.maxSize {
		return ratify.Report{}, fmt.Errorf("SBOM document %s is %d bytes, more than %d: %w",
			layer.Digest, layer.Size, v.maxSize, errdef.ErrSizeExceedsLimit)
	}
	data, err := content.Fetch(ctx, layer)
	if err != nil {
		return ratify.Report{}, fmt.Errorf("fetch SBOM document %s: %w", layer.Digest, err)
	}
	if int64(len(data)) > v.maxSize {
		return ratify.Report{}, fmt.Errorf("SBOM document %s is %d bytes, more than %d: %w",
			layer.Digest, len(data), v.maxSize, errdef.ErrSizeExceedsLimit)
	}
	doc, err := parse(f, data)
	if err != nil {
		return failure(fmt.Sprintf("the SBOM is not a valid %s JSON document", f), err.Error(),
			"regenerate the SBOM with an SBOM generator such as syft or trivy, and attach it again"), nil
	}
	return v.report(doc, v.check(doc)), nil
}

const attachRemedy = "attach the SBOM as its generator wrote it, e.g. `oras attach --artifact-type application/spdx+json IMAGE sbom.spdx.json`"

// report turns the findings on doc into a report whose extensions are
// those of Ratify v1: creationInfo, and the license and package
// violations when there are any.
func (v *Verifier) report(doc document, f findings) ratify.Report {
	ext := map[string]any{"creationInfo": doc.creationInfo}
	if f.licenseCount == 0 && f.packageCount == 0 {
		return ratify.Report{
			IsSuccess: true,
			Message: fmt.Sprintf("SBOM verification success: no license or package violation in %d packages",
				len(doc.components)),
			Extensions: ext,
		}
	}
	var parts, remedies []string
	if f.licenseCount > 0 {
		ext["licenseViolations"] = f.licenses
		parts = append(parts, count(f.licenseCount, "package", "packages")+" with a disallowed license")
		remedies = append(remedies, fmt.Sprintf("replace the packages under licenses %s", strings.Join(v.licenseNames, ", ")))
	}
	if f.packageCount > 0 {
		ext["packageViolations"] = f.packages
		parts = append(parts, count(f.packageCount, "disallowed package", "disallowed packages"))
		remedies = append(remedies, "remove or upgrade the disallowed packages")
	}
	reason := strings.Join(parts, " and ")
	if f.licenseCount > MaxListedViolations || f.packageCount > MaxListedViolations {
		reason += fmt.Sprintf(" (the first %d of each listed)", MaxListedViolations)
	}
	r := failure("license or package violation found", reason, strings.Join(remedies, "; ")+", then regenerate and attach the SBOM")
	r.Extensions = ext
	return r
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// failure is a report on an SBOM that did not pass.
func failure(reason, detail, remediation string) ratify.Report {
	r := ratify.Report{
		Message:     "SBOM validation failed: " + reason,
		ErrorReason: reason,
		Remediation: remediation,
	}
	if detail != "" {
		r.ErrorReason += ": " + detail
	}
	return r
}
