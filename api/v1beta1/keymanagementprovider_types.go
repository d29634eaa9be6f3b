package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// KeyManagementProviderSpec is a source of trust material (certificates or
// keys), as in Ratify v1: type inline holds PEM content in Parameters
// (contentType certificate or key, value); type azurekeyvault names
// Azure Key Vault certificates and keys.
type KeyManagementProviderSpec struct {
	// Type is inline or azurekeyvault.
	// +optional
	Type string `json:"type,omitempty"`
	// RefreshInterval is how often refreshable providers fetch their
	// material again, a Go duration such as "1h" (units ns, us, ms, s, m, h).
	// +optional
	RefreshInterval string `json:"refreshInterval,omitempty"`
	// Parameters are the provider's own fields.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// KeyManagementProviderStatus is the observed state of a key management
// provider: whether its material was loaded, when, and what it holds.
type KeyManagementProviderStatus struct {
	// IsSuccess is true when the certificates or keys were loaded.
	IsSuccess bool `json:"issuccess"`
	// Error says why the material could not be loaded.
	// +optional
	Error string `json:"error,omitempty"`
	// BriefError is a short form of Error, for the printer column.
	// +optional
	BriefError string `json:"brieferror,omitempty"`
	// LastFetchedTime is when the material was last loaded, or the load
	// last failed.
	// +optional
	LastFetchedTime *metav1.Time `json:"lastfetchedtime,omitempty"`
	// Properties describe each certificate or key loaded.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Properties runtime.RawExtension `json:"properties,omitempty"`
}

// KeyManagementProvider is a cluster-wide source of trust material.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="LastFetchedTime",type=date,JSONPath=`.status.lastfetchedtime`
type KeyManagementProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KeyManagementProviderSpec   `json:"spec,omitempty"`
	Status KeyManagementProviderStatus `json:"status,omitempty"`
}

// KeyManagementProviderList is a list of KeyManagementProviders.
//
// +kubebuilder:object:root=true
type KeyManagementProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KeyManagementProvider `json:"items"`
}

// NamespacedKeyManagementProvider is a source of trust material for one
// namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
// +kubebuilder:printcolumn:name="LastFetchedTime",type=date,JSONPath=`.status.lastfetchedtime`
type NamespacedKeyManagementProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KeyManagementProviderSpec   `json:"spec,omitempty"`
	Status KeyManagementProviderStatus `json:"status,omitempty"`
}

// NamespacedKeyManagementProviderList is a list of
// NamespacedKeyManagementProviders.
//
// +kubebuilder:object:root=true
type NamespacedKeyManagementProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedKeyManagementProvider `json:"items"`
}
