package k8s

import (
	"encoding/json"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/errdef"
)

// outcome is what a resource amounts to, judged on its own.
type outcome struct {
	// entry is its config.json entry; nil when it supplies none (a refused
	// or inactive resource, a key management provider).
	entry json.RawMessage
	// err says why it was refused; nil when it was accepted.
	err error
	// brief is the short form of err for the printer column; empty means
	// err's message, shortened.
	brief string
	// properties describe a key management provider's material; fetched
	// is when it was last fetched (zero: now).
	properties json.RawMessage
	fetched    time.Time
}

func failed(err error) outcome { return outcome{err: err} }

// kind adapts one resource type O (such as *v1beta1.Verifier or
// *v1beta1.NamespacedVerifier) to the one Reconciler: the cluster-wide and
// namespaced twins differ only in scope, which the object's namespace says.
type kind[O client.Object] struct {
	name      string  // the Kubernetes kind, e.g. NamespacedVerifier
	section   section // the configuration it supplies
	newObject func() O
	newList   func() client.ObjectList
	// evaluate judges o on its own.
	evaluate func(o O, v *validator) outcome
	// setStatus writes st into o's status and reports whether it changed.
	setStatus func(o O, st status) bool
	// requeue, when set, is how soon an accepted o is reconciled again
	// (zero: only when it changes).
	requeue func(o O) time.Duration
}

func verifierKind[O client.Object](name string, newObject func() O, newList func() client.ObjectList,
	parts func(O) (*v1beta1.VerifierSpec, *v1beta1.ResourceStatus)) kind[O] {
	return kind[O]{
		name: name, section: sectionVerifier, newObject: newObject, newList: newList,
		evaluate: func(o O, v *validator) outcome {
			spec, _ := parts(o)
			return evaluateEntry(sectionVerifier, v, func() (json.RawMessage, error) { return verifierEntry(spec) })
		},
		setStatus: func(o O, st status) bool { _, s := parts(o); return st.setResource(s) },
	}
}

func storeKind[O client.Object](name string, newObject func() O, newList func() client.ObjectList,
	parts func(O) (*v1beta1.StoreSpec, *v1beta1.ResourceStatus)) kind[O] {
	return kind[O]{
		name: name, section: sectionStore, newObject: newObject, newList: newList,
		evaluate: func(o O, v *validator) outcome {
			spec, _ := parts(o)
			return evaluateEntry(sectionStore, v, func() (json.RawMessage, error) { return storeEntry(spec) })
		},
		setStatus: func(o O, st status) bool { _, s := parts(o); return st.setResource(s) },
	}
}

func policyKind[O client.Object](name string, newObject func() O, newList func() client.ObjectList,
	parts func(O) (*v1beta1.PolicySpec, *v1beta1.ResourceStatus)) kind[O] {
	return kind[O]{
		name: name, section: sectionPolicy, newObject: newObject, newList: newList,
		evaluate: func(o O, v *validator) outcome {
			if o.GetName() != v1beta1.PolicyName {
				return failed(fmt.Errorf("metadata.name must be %s, got %s: this %s is inactive: %w",
					v1beta1.PolicyName, o.GetName(), name, errdef.ErrInvalidConfig))
			}
			spec, _ := parts(o)
			return evaluateEntry(sectionPolicy, v, func() (json.RawMessage, error) { return policyEntry(spec) })
		},
		setStatus: func(o O, st status) bool { _, s := parts(o); return st.setResource(s) },
	}
}

func keysKind[O client.Object](name string, newObject func() O, newList func() client.ObjectList,
	parts func(O) (*v1beta1.KeyManagementProviderSpec, *v1beta1.KeyManagementProviderStatus)) kind[O] {
	return kind[O]{
		name: name, section: sectionKeys, newObject: newObject, newList: newList,
		evaluate: func(o O, v *validator) outcome {
			spec, _ := parts(o)
			name := keyProviderName(o.GetNamespace(), o.GetName())
			return evaluateEntry(sectionKeys, v, func() (json.RawMessage, error) { return keyProviderEntry(name, spec) })
		},
		setStatus: func(o O, st status) bool { _, s := parts(o); return st.setKeys(s) },
		requeue:   func(o O) time.Duration { spec, _ := parts(o); return refreshAfter(spec) },
	}
}

// evaluateEntry converts a resource to its entry and checks it on its own.
func evaluateEntry(sec section, v *validator, convert func() (json.RawMessage, error)) outcome {
	entry, err := convert()
	if err == nil {
		err = v.check(sec, entry)
	}
	if err != nil {
		return failed(err)
	}
	return outcome{entry: entry}
}

// The eight kinds of config.ratify.deislabs.io/v1beta1.
func kindVerifier() kind[*v1beta1.Verifier] {
	return verifierKind("Verifier", func() *v1beta1.Verifier { return &v1beta1.Verifier{} },
		func() client.ObjectList { return &v1beta1.VerifierList{} },
		func(o *v1beta1.Verifier) (*v1beta1.VerifierSpec, *v1beta1.ResourceStatus) { return &o.Spec, &o.Status })
}

func kindNamespacedVerifier() kind[*v1beta1.NamespacedVerifier] {
	return verifierKind("NamespacedVerifier", func() *v1beta1.NamespacedVerifier { return &v1beta1.NamespacedVerifier{} },
		func() client.ObjectList { return &v1beta1.NamespacedVerifierList{} },
		func(o *v1beta1.NamespacedVerifier) (*v1beta1.VerifierSpec, *v1beta1.ResourceStatus) {
			return &o.Spec, &o.Status
		})
}

func kindStore() kind[*v1beta1.Store] {
	return storeKind("Store", func() *v1beta1.Store { return &v1beta1.Store{} },
		func() client.ObjectList { return &v1beta1.StoreList{} },
		func(o *v1beta1.Store) (*v1beta1.StoreSpec, *v1beta1.ResourceStatus) { return &o.Spec, &o.Status })
}

func kindNamespacedStore() kind[*v1beta1.NamespacedStore] {
	return storeKind("NamespacedStore", func() *v1beta1.NamespacedStore { return &v1beta1.NamespacedStore{} },
		func() client.ObjectList { return &v1beta1.NamespacedStoreList{} },
		func(o *v1beta1.NamespacedStore) (*v1beta1.StoreSpec, *v1beta1.ResourceStatus) {
			return &o.Spec, &o.Status
		})
}

func kindPolicy() kind[*v1beta1.Policy] {
	return policyKind("Policy", func() *v1beta1.Policy { return &v1beta1.Policy{} },
		func() client.ObjectList { return &v1beta1.PolicyList{} },
		func(o *v1beta1.Policy) (*v1beta1.PolicySpec, *v1beta1.ResourceStatus) { return &o.Spec, &o.Status })
}

func kindNamespacedPolicy() kind[*v1beta1.NamespacedPolicy] {
	return policyKind("NamespacedPolicy", func() *v1beta1.NamespacedPolicy { return &v1beta1.NamespacedPolicy{} },
		func() client.ObjectList { return &v1beta1.NamespacedPolicyList{} },
		func(o *v1beta1.NamespacedPolicy) (*v1beta1.PolicySpec, *v1beta1.ResourceStatus) {
			return &o.Spec, &o.Status
		})
}

func kindKeyManagementProvider() kind[*v1beta1.KeyManagementProvider] {
	return keysKind("KeyManagementProvider", func() *v1beta1.KeyManagementProvider { return &v1beta1.KeyManagementProvider{} },
		func() client.ObjectList { return &v1beta1.KeyManagementProviderList{} },
		func(o *v1beta1.KeyManagementProvider) (*v1beta1.KeyManagementProviderSpec, *v1beta1.KeyManagementProviderStatus) {
			return &o.Spec, &o.Status
		})
}

func kindNamespacedKeyManagementProvider() kind[*v1beta1.NamespacedKeyManagementProvider] {
	return keysKind("NamespacedKeyManagementProvider",
		func() *v1beta1.NamespacedKeyManagementProvider { return &v1beta1.NamespacedKeyManagementProvider{} },
		func() client.ObjectList { return &v1beta1.NamespacedKeyManagementProviderList{} },
		func(o *v1beta1.NamespacedKeyManagementProvider) (*v1beta1.KeyManagementProviderSpec, *v1beta1.KeyManagementProviderStatus) {
			return &o.Spec, &o.Status
		})
}
