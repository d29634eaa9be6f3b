package ratify_test

import (
	"context"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
)

// TestExecutorManyVerifiersPerType checks that every verifier handling an
// artifact type runs on each artifact of that type, and that all their
// reports count: under "all", one verifier failing a signature the other
// passes fails the subject; under "any", one passing report suffices.
func TestExecutorManyVerifiersPerType(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	s.attach(subject, sigType, "pass")
	// A verifier that fails every artifact, whatever its content says.
	strict := &verdictVerifier{name: "strict", types: []string{sigType}}
	lenient := &verdictVerifier{name: "lenient", types: []string{sigType}}
	for _, tc := range []struct {
		rule string
		want bool
	}{{"all", false}, {"any", true}} {
		t.Run(tc.rule, func(t *testing.T) {
			strict.calls.Store(0)
			lenient.calls.Store(0)
			exec := newExecutor(t, s, map[string]string{sigType: tc.rule}, lenient, failing{strict})
			res, err := exec.Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if strict.calls.Load() != 1 || lenient.calls.Load() != 1 {
				t.Fatalf("calls: strict %d, lenient %d; want each verifier once", strict.calls.Load(), lenient.calls.Load())
			}
			byName := map[string]bool{}
			for _, r := range res.VerifierReports {
				byName[r.VerifierName] = r.IsSuccess
			}
			if len(res.VerifierReports) != 2 || !byName["lenient"] || byName["strict"] {
				t.Fatalf("reports %+v, want lenient passing and strict failing", res.VerifierReports)
			}
			if res.IsSuccess != tc.want {
				t.Errorf("IsSuccess = %v under %q, want %v", res.IsSuccess, tc.rule, tc.want)
			}
		})
	}
}

// failing wraps a verifier and turns each of its reports into a failure.
type failing struct{ *verdictVerifier }

func (f failing) Verify(ctx context.Context, s ratify.Subject, a ocispec.Descriptor, fe ratify.Fetcher) (ratify.Report, error) {
	r, err := f.verdictVerifier.Verify(ctx, s, a, fe)
	r.IsSuccess = false
	return r, err
}
