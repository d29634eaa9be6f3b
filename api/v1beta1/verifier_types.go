package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// VerifierSpec is one verifier: the Kubernetes form of a config.json
// verifier.plugins entry. The fields of Parameters join name, type and
// artifactTypes at the top level of that entry, as in Ratify v1.
type VerifierSpec struct {
	// Name names the verifier; it is also its type when Type is empty.
	Name string `json:"name"`
	// Type is the kind of verifier (notation, cosign, ...).
	// +optional
	Type string `json:"type,omitempty"`
	// Version of an external verifier plugin (Ratify v1); not used.
	// +optional
	Version string `json:"version,omitempty"`
	// ArtifactTypes lists, comma-separated, the artifact types the
	// verifier handles.
	ArtifactTypes string `json:"artifactTypes"`
	// Address is the path of an external verifier plugin (Ratify v1); not used.
	// +optional
	Address string `json:"address,omitempty"`
	// Source is where to download an external plugin from; refused.
	// +optional
	Source *PluginSource `json:"source,omitempty"`
	// Parameters are the verifier's own fields (verificationCerts,
	// trustPolicyDoc, ...).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// Verifier is a cluster-wide verifier: it applies to every verification
// unless the subject's namespace has NamespacedVerifiers.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
type Verifier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VerifierSpec   `json:"spec,omitempty"`
	Status ResourceStatus `json:"status,omitempty"`
}

// VerifierList is a list of Verifiers.
//
// +kubebuilder:object:root=true
type VerifierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Verifier `json:"items"`
}

// NamespacedVerifier is a verifier of one namespace: the NamespacedVerifiers
// of a namespace replace the cluster-wide Verifiers for subjects from it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
type NamespacedVerifier struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VerifierSpec   `json:"spec,omitempty"`
	Status ResourceStatus `json:"status,omitempty"`
}

// NamespacedVerifierList is a list of NamespacedVerifiers.
//
// +kubebuilder:object:root=true
type NamespacedVerifierList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedVerifier `json:"items"`
}
