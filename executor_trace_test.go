package ratify_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// spanAttr returns the value of key on s, as text.
func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

func TestExecutorSpansNest(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	s.attach(subject, sigType, "pass")
	sbom := s.attach(subject, sbomType, "pass")
	s.attach(sbom, sigType, "fail")
	sigV := &verdictVerifier{name: "sig", types: []string{sigType}}
	sbomV := &verdictVerifier{name: "sbom", types: []string{sbomType}, nested: []string{sigType}}
	exec := newExecutor(t, s, map[string]string{sigType: "any", sbomType: "any"}, sigV, sbomV)
	rec := tracetest.NewSpanRecorder()
	exec.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")

	res, err := exec.Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{TraceID: "t1", ArtifactTypes: []string{sigType, sbomType}})
	if err != nil || res.IsSuccess {
		t.Fatalf("Verify = %+v, %v; want a failure (the SBOM's signature fails)", res, err)
	}
	byID := map[string]sdktrace.ReadOnlySpan{}
	var top, nested sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		byID[sp.SpanContext().SpanID().String()] = sp
		if sp.Name() == "ratify.verify" && !sp.Parent().IsValid() {
			top = sp
		} else if sp.Name() == "ratify.verify" {
			nested = sp
		}
	}
	if top == nil || nested == nil {
		t.Fatalf("want a top-level and a nested ratify.verify span, got %d spans", len(rec.Ended()))
	}
	parent := func(sp sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan { return byID[sp.Parent().SpanID().String()] }
	if parent(nested) != top {
		t.Error("the nested subject's span is not a child of its parent subject's")
	}
	for key, want := range map[string]string{
		"ratify.reference": "registry.test/app:v1", "ratify.subject": "registry.test/app@" + subject.Digest.String(),
		"ratify.trace_id": "t1", "ratify.artifact_types": `["` + sigType + `","` + sbomType + `"]`, "ratify.outcome": "failure",
	} {
		if got := spanAttr(top, key); got != want {
			t.Errorf("top span %s = %q, want %q", key, got, want)
		}
	}
	if got := spanAttr(nested, "ratify.subject"); got != "registry.test/app@"+sbom.Digest.String() {
		t.Errorf("nested span subject = %q, want the SBOM", got)
	}
	if top.Status().Code != codes.Error || nested.Status().Code != codes.Error {
		t.Errorf("statuses %v, %v; want errors for failed verifications", top.Status(), nested.Status())
	}

	// Each verifier call and policy decision is under the subject it is about.
	counts := map[string]int{}
	for _, sp := range rec.Ended() {
		switch sp.Name() {
		case "ratify.verifier", "ratify.policy":
			p := parent(sp)
			level := "top"
			if p == nested {
				level = "nested"
			} else if p != top {
				t.Errorf("%s span under %v", sp.Name(), p)
			}
			counts[level+" "+sp.Name()+" "+spanAttr(sp, "ratify.verifier.name")+" "+spanAttr(sp, "ratify.outcome")]++
		}
	}
	want := map[string]int{
		"top ratify.verifier sig success":    1,
		"top ratify.verifier sbom success":   1,
		"top ratify.policy  failure":         1,
		"nested ratify.verifier sig failure": 1,
		"nested ratify.policy  failure":      1,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%d spans %q, want %d; all: %v", counts[k], k, n, counts)
		}
	}
	if len(rec.Ended()) != 7 {
		t.Errorf("%d spans, want 7", len(rec.Ended()))
	}
}

func TestExecutorSpanOfAnError(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	s.attach(subject, sigType, "pass")
	exec := newExecutor(t, s, map[string]string{sigType: "any"},
		&verdictVerifier{name: "sig", types: []string{sigType}, err: errdef.ErrTrustMaterialUnavailable})
	rec := tracetest.NewSpanRecorder()
	exec.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	if _, err := exec.Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{}); !errors.Is(err, errdef.ErrTrustMaterialUnavailable) {
		t.Fatalf("Verify: %v", err)
	}
	for _, sp := range rec.Ended() {
		if sp.Status().Code != codes.Error || spanAttr(sp, "ratify.outcome") != "error" {
			t.Errorf("%s: status %v, outcome %q; want an error", sp.Name(), sp.Status(), spanAttr(sp, "ratify.outcome"))
		}
		if sp.Name() == "ratify.policy" {
			t.Error("a policy decided after a verifier could not verify")
		}
	}
	if len(rec.Ended()) != 2 {
		t.Errorf("%d spans, want ratify.verify and ratify.verifier", len(rec.Ended()))
	}
}
