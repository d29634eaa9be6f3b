package ratify

import "context"

// ResultVersioner is implemented by policies that judge, and want reported,
// a result format other than ResultVersion. A policy whose ResultVersion is
// NestedResultVersion (Ratify v1's regoPolicy) sees the reports as the nested
// tree of result 1.1.0, and the provider and the CLI should write
// Result.Nested() instead of the Result:
//
//	if v, ok := policy.(ratify.ResultVersioner); ok && v.ResultVersion() == ratify.NestedResultVersion {
//		value = result.Nested()
//	}
type ResultVersioner interface {
	ResultVersion() string
}

// EvaluatingPolicy is implemented by policies whose evaluation can fail, so
// that the failure is not mistaken for a verdict. Evaluate returns the
// decision Decide would, or an error when the policy could not decide (an
// expression that is undefined or not a boolean, the deadline); Decide of
// such a policy returns false in those cases. An error from Evaluate is
// "could not verify", never a pass and never "verification failed".
type EvaluatingPolicy interface {
	Evaluate(ctx context.Context, reports []Report) (bool, error)
}

// Presented returns res in the form policy's answers take: the nested
// 1.1.0 form (Result.Nested) for a policy whose ResultVersion is
// NestedResultVersion, as Ratify v1's regoPolicy answers, else res itself
// (0.2.0).
func Presented(policy Policy, res Result) any {
	if v, ok := policy.(ResultVersioner); ok && v.ResultVersion() == NestedResultVersion {
		return res.Nested()
	}
	return res
}
