// Package v1beta1 holds the Kubernetes resource types of ratify's
// configuration, API group config.ratify.deislabs.io, version v1beta1: the
// same kinds, fields and status as Ratify v1.x, so that existing resources
// apply unchanged.
//
// Each kind exists cluster-wide (Verifier, Store, Policy,
// KeyManagementProvider) and per namespace (NamespacedVerifier, ...). A
// resource's spec is the Kubernetes form of one config.json entry
// (internal/k8s converts it); its status says whether ratify accepted it.
//
// The CRD manifests in charts/ratify/crds and zz_generated.deepcopy.go are
// generated from the kubebuilder markers here by controller-gen: run
// `make generate` after changing a type.
//
// +kubebuilder:object:generate=true
// +groupName=config.ratify.deislabs.io
package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version name the API of these types.
const (
	Group   = "config.ratify.deislabs.io"
	Version = "v1beta1"
)

// GroupVersion returns config.ratify.deislabs.io/v1beta1.
func GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: Group, Version: Version}
}

// AddToScheme registers every kind of this package, and their lists, with s.
// It is the explicit counterpart of the generated SchemeBuilder registration
// that kubebuilder projects run from init functions.
func AddToScheme(s *runtime.Scheme) error {
	gv := GroupVersion()
	s.AddKnownTypes(gv,
		&Verifier{}, &VerifierList{}, &NamespacedVerifier{}, &NamespacedVerifierList{},
		&Store{}, &StoreList{}, &NamespacedStore{}, &NamespacedStoreList{},
		&Policy{}, &PolicyList{}, &NamespacedPolicy{}, &NamespacedPolicyList{},
		&KeyManagementProvider{}, &KeyManagementProviderList{},
		&NamespacedKeyManagementProvider{}, &NamespacedKeyManagementProviderList{},
	)
	metav1.AddToGroupVersion(s, gv)
	return nil
}

// ResourceStatus is the observed state of a Verifier, Store or Policy (and
// their namespaced twins): whether ratify accepted the resource and, if
// not, why.
type ResourceStatus struct {
	// IsSuccess is true when the resource was validated and is in use.
	IsSuccess bool `json:"issuccess"`
	// Error says why the resource was refused (or is not in use).
	// +optional
	Error string `json:"error,omitempty"`
	// BriefError is a short form of Error, for the printer column.
	// +optional
	BriefError string `json:"brieferror,omitempty"`
}

// PluginSource names an OCI artifact to download a plugin from. Ratify v1
// accepts it on Verifiers and Stores; ratify refuses it (downloading
// plugins is not supported) with the resource's status saying so.
type PluginSource struct {
	// Artifact is the reference of the OCI artifact holding the plugin.
	// +optional
	Artifact string `json:"artifact,omitempty"`
	// AuthProvider configures the credentials used to pull Artifact.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	AuthProvider runtime.RawExtension `json:"authProvider,omitempty"`
}
