package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// StoreSpec is one referrer store: the Kubernetes form of a config.json
// store.plugins entry, whose name is the spec's name (or type) and whose
// other fields are those of Parameters (useHttp, cosignEnabled,
// authProvider, ...), as in Ratify v1.
type StoreSpec struct {
	// Name names the store implementation (oras).
	Name string `json:"name"`
	// Type, when set, names the store implementation instead of Name.
	// +optional
	Type string `json:"type,omitempty"`
	// Version of an external store plugin (Ratify v1); not used.
	// +optional
	Version string `json:"version,omitempty"`
	// Address is the path of an external store plugin (Ratify v1); not used.
	// +optional
	Address string `json:"address,omitempty"`
	// Source is where to download an external plugin from; refused.
	// +optional
	Source *PluginSource `json:"source,omitempty"`
	// Parameters are the store's own fields.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Parameters runtime.RawExtension `json:"parameters,omitempty"`
}

// Store is the cluster-wide referrer store.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
type Store struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StoreSpec      `json:"spec,omitempty"`
	Status ResourceStatus `json:"status,omitempty"`
}

// StoreList is a list of Stores.
//
// +kubebuilder:object:root=true
type StoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Store `json:"items"`
}

// NamespacedStore is the referrer store of one namespace: it replaces the
// cluster-wide Store for subjects from that namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="IsSuccess",type=boolean,JSONPath=`.status.issuccess`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.brieferror`
type NamespacedStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   StoreSpec      `json:"spec,omitempty"`
	Status ResourceStatus `json:"status,omitempty"`
}

// NamespacedStoreList is a list of NamespacedStores.
//
// +kubebuilder:object:root=true
type NamespacedStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NamespacedStore `json:"items"`
}
