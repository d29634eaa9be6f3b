package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PolicyName is the name of the one Policy (or NamespacedPolicy) that is
// applied; Policies of other names are inactive, as in Ratify v1.
const PolicyName = "ratify-policy"

// PolicySpec is the policy: the Kubernetes form of config.json's
// policy.plugin. Type config-policy is the plugin configPolicy and
// rego-policy is regoPolicy; the fields of Parameters join the name at the
// top level (artifactVerificationPolicies, or policy and passthroughEnabled).
type PolicySpec struct {
	// Type is config-policy or rego-policy.
	// +optional
	Type string `json:"type,omitempty"`
	// Parameters are the policy's own fields.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// Policy is the cluster-wide policy when it is named ratify-policy.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
type Policy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec     `json:"spec,omitempty"`
	Status ResourceStatus `json:"status,omitempty"`
}

// PolicyList is a list of Policies.
//
// +kubebuilder:object:root=true
type PolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Policy `json:"items"`
}

// NamespacedPolicy, when named ratify-policy, replaces the cluster-wide
// Policy for subjects from its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
type NamespacedPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PolicySpec     `json:"spec,omitempty"`
	Status ResourceStatus `json:"status,omitempty"`
}

// NamespacedPolicyList is a list of NamespacedPolicies.
//
// +kubebuilder:object:root=true
type NamespacedPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedPolicy `json:"items"`
}
