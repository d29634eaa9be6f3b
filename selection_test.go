package ratify_test

import (
	"context"
	"fmt"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
)

const sarifType = "application/sarif+json"

// TestArtifactSelection checks that only the selected reports of a type
// are verified: the newest by creation time, of those whose annotations
// match, while other types are all verified.
func TestArtifactSelection(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	report := func(verdict, created, scanner string) ocispec.Descriptor {
		d := s.add(ocispec.MediaTypeImageManifest, sarifType, fmt.Appendf(nil, "%s %s %s", verdict, created, scanner))
		d.Annotations = map[string]string{ocispec.AnnotationCreated: created, "org.example/scanner": scanner}
		s.referrers[subject.Digest] = append(s.referrers[subject.Digest], d)
		return d
	}
	report("fail", "2024-01-01T00:00:00Z", "trivy") // old and failing
	newest := report("pass", "2026-11-01T00:00:00Z", "trivy")
	report("fail", "2026-11-20T00:00:00Z", "grype") // newer, but another scanner
	s.attach(subject, sigType, "pass")
	s.attach(subject, sigType, "pass")

	v := &verdictVerifier{name: "v", types: []string{sigType, sarifType}}
	exec := newExecutor(t, s, map[string]string{sigType: "all", sarifType: "all"}, v)
	res, err := exec.Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsSuccess || len(res.VerifierReports) != 5 {
		t.Fatalf("without selection: IsSuccess %v with %d reports, want a failure over all 5", res.IsSuccess, len(res.VerifierReports))
	}

	exec.Selection = map[string]ratify.ArtifactSelection{sarifType: {Newest: 1, Annotations: map[string]string{"org.example/scanner": "trivy"}}}
	res, err = exec.Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sarif []string
	sigs := 0
	for _, r := range res.VerifierReports {
		switch r.ArtifactType {
		case sarifType:
			sarif = append(sarif, r.ReferenceDigest)
		case sigType:
			sigs++
		}
	}
	if !res.IsSuccess || len(sarif) != 1 || sarif[0] != newest.Digest.String() || sigs != 2 {
		t.Fatalf("with selection: IsSuccess %v, reports %v and %d signatures; want only the newest trivy report %s and both signatures",
			res.IsSuccess, sarif, sigs, newest.Digest)
	}
}
