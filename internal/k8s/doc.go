// Package k8s runs the Kubernetes controllers of ratify's resources
// (config.ratify.deislabs.io/v1beta1, package api/v1beta1) on
// controller-runtime.
//
// Each Verifier, Store and Policy (cluster-wide or namespaced) is turned
// into its config.json entry as Ratify v1 does, judged on its own with
// config.Compose and config.Build, and, when accepted, joins the overlay
// installed into the provider with server.Server.SetOverlay: cluster-wide
// resources replace config.json's sections, namespaced ones replace the
// cluster's sections for subjects from their namespace, one section at a
// time. A refused resource, or a new version of it, never reaches the
// engine; its last accepted version stays. Key management providers are
// validated and described in their status; verifiers cannot use them yet.
//
// Every replica runs the reconcilers (each builds its own engine); only the
// holder of the leader Lease writes status.
package k8s
