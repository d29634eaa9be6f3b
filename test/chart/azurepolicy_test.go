package chart

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// azurePolicy is the part of an Azure Policy definition (mode
// Microsoft.Kubernetes.Data) that Azure Policy for Kubernetes reads; the
// decoding refuses any other field.
type azurePolicy struct {
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	Mode        string `json:"mode"`
	Metadata    struct {
		Category string `json:"category"`
		Version  string `json:"version"`
	} `json:"metadata"`
	Parameters map[string]struct {
		Type     string `json:"type"`
		Metadata struct {
			DisplayName string `json:"displayName"`
			Description string `json:"description"`
		} `json:"metadata"`
		AllowedValues []string `json:"allowedValues"`
		DefaultValue  any      `json:"defaultValue"`
	} `json:"parameters"`
	PolicyRule struct {
		If struct {
			Field string   `json:"field"`
			In    []string `json:"in"`
		} `json:"if"`
		Then struct {
			Effect  string `json:"effect"`
			Details struct {
				TemplateInfo struct {
					SourceType string `json:"sourceType"`
					Content    string `json:"content"`
				} `json:"templateInfo"`
				APIGroups          []string `json:"apiGroups"`
				Kinds              []string `json:"kinds"`
				Namespaces         string   `json:"namespaces"`
				ExcludedNamespaces string   `json:"excludedNamespaces"`
				LabelSelector      string   `json:"labelSelector"`
			} `json:"details"`
		} `json:"then"`
	} `json:"policyRule"`
}

// TestAzurePolicyDefinitions: library/azure-policy's definitions carry
// library's ConstraintTemplates byte for byte, on AKS and Arc clusters, and
// enforce them as ratify-constraint does (Pods, the same excluded
// namespaces), with the effect a parameter: Audit, Deny (default) or
// Disabled.
func TestAzurePolicyDefinitions(t *testing.T) {
	constraint := libraryObject(t, "default/samples/constraint.yaml")
	excluded, _, _ := unstructured.NestedStringSlice(constraint.Object, "spec", "match", "excludedNamespaces")
	for file, template := range map[string]string{
		"ratify-verification.json":               "default/template.yaml",
		"ratify-verification-multi-tenancy.json": "multi-tenancy/template.yaml",
	} {
		data := must(os.ReadFile(filepath.Join(moduleRoot(), "library", "azure-policy", file)))(t)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var def azurePolicy
		if err := dec.Decode(&def); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if def.Mode != "Microsoft.Kubernetes.Data" || def.DisplayName == "" || def.Metadata.Category != "Kubernetes" {
			t.Errorf("%s: mode %q, display name %q, category %q", file, def.Mode, def.DisplayName, def.Metadata.Category)
		}
		if want := []string{"Microsoft.ContainerService/managedClusters", "Microsoft.Kubernetes/connectedClusters"}; def.PolicyRule.If.Field != "type" || !slices.Equal(def.PolicyRule.If.In, want) {
			t.Errorf("%s: if %+v, want type in %v", file, def.PolicyRule.If, want)
		}
		then := def.PolicyRule.Then
		info := then.Details.TemplateInfo
		content, err := base64.StdEncoding.DecodeString(info.Content)
		want := must(os.ReadFile(filepath.Join(moduleRoot(), "library", template)))(t)
		if info.SourceType != "Base64Encoded" || err != nil || !bytes.Equal(content, want) {
			t.Errorf("%s: templateInfo (%s) is not library/%s, base64-encoded: %v (see library/azure-policy/README.md to regenerate it)", file, info.SourceType, template, err)
		}
		d := then.Details
		if then.Effect != "[parameters('effect')]" || !slices.Equal(d.APIGroups, []string{""}) || !slices.Equal(d.Kinds, []string{"Pod"}) ||
			d.ExcludedNamespaces != "[parameters('excludedNamespaces')]" || d.Namespaces != "[parameters('namespaces')]" ||
			d.LabelSelector != "[parameters('labelSelector')]" {
			t.Errorf("%s: then %+v", file, then)
		}
		effect := def.Parameters["effect"]
		if effect.Type != "String" || !slices.Equal(effect.AllowedValues, []string{"Audit", "Deny", "Disabled"}) || effect.DefaultValue != "Deny" {
			t.Errorf("%s: effect parameter %+v", file, effect)
		}
		var defaults []string
		for _, ns := range def.Parameters["excludedNamespaces"].DefaultValue.([]any) {
			defaults = append(defaults, ns.(string))
		}
		if !reflect.DeepEqual(defaults, excluded) || len(def.Parameters) != 4 {
			t.Errorf("%s: excludedNamespaces default %v, want the constraint's %v; parameters %v", file, defaults, excluded, def.Parameters)
		}
	}
}
