// Package ratify decides whether a container image may run: it finds the
// artifacts attached to an image in its OCI registry (signatures, SBOMs,
// reports), hands each to the verifiers that understand its artifact type,
// and asks a policy whether the reports together let the image pass.
//
// The package holds the vocabulary (Subject, Report, Result), the small
// interfaces the engine consumes (Store, Verifier, Policy) and the Executor
// that walks subject -> referrers -> verifiers -> policy. Implementations live
// in sub-packages: store/registry, verifier/notation, policy/configpolicy.
//
// Referrers are discovered as the OCI distribution-spec v1.1 defines them:
// the referrers API, or the referrers tag schema where a registry lacks it.
package ratify
