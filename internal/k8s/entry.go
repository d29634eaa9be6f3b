package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
)

// verifierEntry turns a VerifierSpec into its config.json verifier.plugins
// entry as Ratify v1 does: the fields of parameters, then name, type,
// artifactTypes (and source, which config refuses) over them.
func verifierEntry(spec *v1beta1.VerifierSpec) (json.RawMessage, error) {
	fields, err := parameterFields(spec.Parameters)
	if err != nil {
		return nil, err
	}
	set(fields, "name", spec.Name)
	if spec.Type != "" {
		set(fields, "type", spec.Type)
	}
	set(fields, "artifactTypes", spec.ArtifactTypes)
	if spec.Source != nil {
		set(fields, "source", spec.Source)
	}
	return json.Marshal(fields)
}

// storeEntry turns a StoreSpec into its config.json store.plugins entry:
// the fields of parameters and the name of the store implementation (Type
// when set, else Name).
func storeEntry(spec *v1beta1.StoreSpec) (json.RawMessage, error) {
	if spec.Source != nil {
		return nil, fmt.Errorf("spec.source: downloading store plugins is not supported: %w", errdef.ErrUnsupported)
	}
	fields, err := parameterFields(spec.Parameters)
	if err != nil {
		return nil, err
	}
	name := spec.Name
	if spec.Type != "" {
		name = spec.Type
	}
	set(fields, "name", name)
	return json.Marshal(fields)
}

// policyEntry turns a PolicySpec into config.json's policy.plugin: the
// fields of parameters and the plugin name its type selects.
func policyEntry(spec *v1beta1.PolicySpec) (json.RawMessage, error) {
	var name string
	switch spec.Type {
	case "config-policy":
		name = "configPolicy"
	case "rego-policy":
		name = "regoPolicy"
	case "threshold-policy":
		name = "thresholdPolicy"
	default:
		return nil, fmt.Errorf("spec.type %q: unknown policy type (supported: config-policy, rego-policy, threshold-policy): %w", spec.Type, errdef.ErrInvalidConfig)
	}
	fields, err := parameterFields(spec.Parameters)
	if err != nil {
		return nil, err
	}
	set(fields, "name", name)
	return json.Marshal(fields)
}

// parameterFields returns the fields of a spec's parameters object (none
// when it is absent).
func parameterFields(p runtime.RawExtension) (map[string]json.RawMessage, error) {
	raw := bytes.TrimSpace(p.Raw)
	fields := map[string]json.RawMessage{}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return fields, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("spec.parameters: expected an object: %w", errdef.ErrInvalidConfig)
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("spec.parameters: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return fields, nil
}

// set sets fields[name] to v's JSON.
func set(fields map[string]json.RawMessage, name string, v any) {
	b, _ := json.Marshal(v) // strings and PluginSource always marshal
	fields[name] = b
}

// validator judges an entry on its own: composed into config.json in place
// of its section, the configuration must validate and build (which loads
// certificates, so that a bad path shows on the resource).
type validator struct {
	base  *config.Config
	build config.BuildOptions
}

// check composes entry as the only one of its section over the base
// configuration and builds the result.
func (v *validator) check(sec section, entry json.RawMessage) error {
	parts := config.Parts{DeferKeyReferences: true}
	switch sec {
	case sectionVerifier:
		parts.Verifiers = []json.RawMessage{entry}
	case sectionStore:
		parts.Stores = []json.RawMessage{entry}
	case sectionPolicy:
		parts.Policy = entry
	case sectionKeys:
		parts.KeyProviders = []json.RawMessage{entry}
	}
	cfg, err := config.Compose(v.base, parts)
	if err != nil {
		return err
	}
	_, err = config.Build(cfg, v.build)
	return err
}
