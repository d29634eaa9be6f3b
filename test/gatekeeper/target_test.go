package gatekeeper

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/frameworks/constraint/pkg/core/constraints"
	"github.com/open-policy-agent/frameworks/constraint/pkg/handler"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// admissionTargetName is the target of Gatekeeper's validating webhook: the
// name ConstraintTemplates give in spec.targets[].target.
const admissionTargetName = "admission.k8s.gatekeeper.sh"

// admissionTarget is the frameworks' handler.TargetHandler for Gatekeeper's
// admission target, reduced to what reviewing Pods at admission needs. It
// stands in for Gatekeeper's pkg/target, which is not linked (see the
// package documentation); what it keeps of it:
//
//   - the review: input.review is the Kubernetes AdmissionRequest
//     (admission.k8s.io/v1) that the API server sent, field for field, so
//     templates read input.review.object, input.review.namespace,
//     input.review.operation and so on;
//   - the match: spec.match.kinds (apiGroups, kinds), namespaces and
//     excludedNamespaces, with Gatekeeper's "prefix*" and "*suffix" globs.
//
// Not kept: label and namespace selectors, scope, name, source, the
// referential inventory (ProcessData handles nothing).
type admissionTarget struct{}

var _ handler.TargetHandler = admissionTarget{}

// GetName returns admission.k8s.gatekeeper.sh.
func (admissionTarget) GetName() string { return admissionTargetName }

// MatchSchema is the schema of the constraints' spec.match: the subset of
// Gatekeeper's match that Matches reads.
func (admissionTarget) MatchSchema() apiextensions.JSONSchemaProps {
	strs := apiextensions.JSONSchemaProps{Type: "array",
		Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &apiextensions.JSONSchemaProps{Type: "string"}}}
	kind := apiextensions.JSONSchemaProps{Type: "object",
		Properties: map[string]apiextensions.JSONSchemaProps{"apiGroups": strs, "kinds": strs}}
	return apiextensions.JSONSchemaProps{Type: "object", Properties: map[string]apiextensions.JSONSchemaProps{
		"kinds":              {Type: "array", Items: &apiextensions.JSONSchemaPropsOrArray{Schema: &kind}},
		"namespaces":         strs,
		"excludedNamespaces": strs,
	}}
}

// ProcessData handles no data: these tests keep no inventory.
func (admissionTarget) ProcessData(any) (bool, []string, any, error) { return false, nil, nil, nil }

// HandleReview reviews AdmissionRequests, as Gatekeeper's webhook passes
// them; anything else is not for this target.
func (admissionTarget) HandleReview(obj any) (bool, any, error) {
	req, ok := obj.(*admissionv1.AdmissionRequest)
	if !ok {
		return false, nil, nil
	}
	return true, &admissionReview{AdmissionRequest: *req}, nil
}

// ValidateConstraint accepts every constraint that MatchSchema admits.
func (admissionTarget) ValidateConstraint(*unstructured.Unstructured) error { return nil }

// ToMatcher reads the constraint's spec.match.
func (admissionTarget) ToMatcher(u *unstructured.Unstructured) (constraints.Matcher, error) {
	var m struct {
		Kinds              []matchKind `json:"kinds"`
		Namespaces         []string    `json:"namespaces"`
		ExcludedNamespaces []string    `json:"excludedNamespaces"`
	}
	if match, found, err := unstructured.NestedMap(u.Object, "spec", "match"); err != nil {
		return nil, err
	} else if found {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(match, &m, true); err != nil {
			return nil, fmt.Errorf("spec.match: %w", err)
		}
	}
	return matcherFunc(func(review any) (bool, error) {
		r, ok := review.(*admissionReview)
		if !ok {
			return false, fmt.Errorf("review is a %T, not an admission review", review)
		}
		kindOK := len(m.Kinds) == 0 || slices.ContainsFunc(m.Kinds, func(k matchKind) bool {
			return anyMatch(k.APIGroups, r.Kind.Group) && anyMatch(k.Kinds, r.Kind.Kind)
		})
		ns := r.Namespace
		return kindOK && (len(m.Namespaces) == 0 || anyMatch(m.Namespaces, ns)) &&
			!slices.ContainsFunc(m.ExcludedNamespaces, func(p string) bool { return globMatch(p, ns) }), nil
	}), nil
}

// matchKind is one entry of spec.match.kinds.
type matchKind struct {
	APIGroups []string `json:"apiGroups"`
	Kinds     []string `json:"kinds"`
}

// admissionReview is the review of one AdmissionRequest. It marshals to the
// request's own fields: that is input.review.
type admissionReview struct {
	admissionv1.AdmissionRequest
}

// GetAdmissionRequest lets the client match templates' operations
// (client.ARGetter).
func (r *admissionReview) GetAdmissionRequest() *admissionv1.AdmissionRequest {
	return &r.AdmissionRequest
}

// matcherFunc is a constraints.Matcher.
type matcherFunc func(review any) (bool, error)

// Match reports whether the constraint applies to review.
func (f matcherFunc) Match(review any) (bool, error) { return f(review) }

// anyMatch reports whether one of patterns matches s; "*" matches anything.
func anyMatch(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return p == "*" || p == s })
}

// globMatch matches a namespace against a Gatekeeper namespace pattern: a
// name, "prefix*" or "*suffix".
func globMatch(pattern, ns string) bool {
	switch {
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(ns, strings.TrimSuffix(pattern, "*"))
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(ns, strings.TrimPrefix(pattern, "*"))
	}
	return pattern == ns
}
