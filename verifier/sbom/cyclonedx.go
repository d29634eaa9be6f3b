package sbom

import (
	"cmp"
	"encoding/json"
	"errors"
	"strings"
)

// cdxBOM is the part of a CycloneDX JSON bom (CycloneDX specification 1.x)
// the verifier reads.
type cdxBOM struct {
	BOMFormat   *string `json:"bomFormat"`
	SpecVersion *string `json:"specVersion"`
	Metadata    *struct {
		Timestamp string `json:"timestamp"`
		// Tools is an array of tools (1.4) or an object of components
		// and services (1.5 and later).
		Tools        json.RawMessage `json:"tools"`
		Authors      []cdxEntity     `json:"authors"`
		Manufacturer *cdxEntity      `json:"manufacturer"`
		Manufacture  *cdxEntity      `json:"manufacture"`
		Supplier     *cdxEntity      `json:"supplier"`
		Component    *cdxComponent   `json:"component"`
	} `json:"metadata"`
	Components []cdxComponent `json:"components"`
}

// cdxEntity is a person or organization (or the part of a tool the
// verifier reads).
type cdxEntity struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type cdxComponent struct {
	Name       string             `json:"name"`
	Version    string             `json:"version"`
	Licenses   []cdxLicenseChoice `json:"licenses"`
	Components []cdxComponent     `json:"components"`
}

// cdxLicenseChoice is a license (by SPDX id or by name) or an SPDX license
// expression.
type cdxLicenseChoice struct {
	License *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"license"`
	Expression string `json:"expression"`
}

// parseCycloneDX reads a CycloneDX JSON bom: its metadata and every
// component, nested ones and the metadata's own component included.
func parseCycloneDX(data []byte) (document, error) {
	var b cdxBOM
	if err := json.Unmarshal(data, &b); err != nil {
		return document{}, jsonProblem(err)
	}
	switch {
	case b.BOMFormat == nil || *b.BOMFormat != "CycloneDX":
		return document{}, errors.New(`"bomFormat" is not "CycloneDX": not a CycloneDX bom`)
	case b.SpecVersion == nil || !strings.HasPrefix(*b.SpecVersion, "1."):
		return document{}, errors.New(`"specVersion" is not 1.x`)
	}
	var doc document
	if m := b.Metadata; m != nil {
		creators, err := cdxCreators(m.Tools)
		if err != nil {
			return document{}, err
		}
		for _, a := range m.Authors {
			creators = append(creators, "Person: "+a.Name)
		}
		for _, org := range []*cdxEntity{m.Manufacturer, m.Manufacture, m.Supplier} {
			if org != nil && org.Name != "" {
				creators = append(creators, "Organization: "+org.Name)
			}
		}
		doc.creationInfo = CreationInfo{Created: m.Timestamp, Creators: creators}
		if m.Component != nil {
			doc.components = flatten(doc.components, []cdxComponent{*m.Component})
		}
	}
	doc.components = flatten(doc.components, b.Components)
	return doc, nil
}

// cdxCreators names the tools of a bom's metadata, in either of
// CycloneDX's shapes, as SPDX creators ("Tool: name-version").
func cdxCreators(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var tools []cdxEntity
	if err := json.Unmarshal(raw, &tools); err != nil {
		var grouped struct {
			Components []cdxEntity `json:"components"`
			Services   []cdxEntity `json:"services"`
		}
		if err := json.Unmarshal(raw, &grouped); err != nil {
			return nil, errors.New("metadata.tools is neither an array of tools nor an object of components and services")
		}
		tools = append(grouped.Components, grouped.Services...)
	}
	var creators []string
	for _, t := range tools {
		name := t.Name
		if t.Version != "" {
			name += "-" + t.Version
		}
		creators = append(creators, "Tool: "+name)
	}
	return creators, nil
}

// flatten appends cs and their nested components, depth first, to out.
func flatten(out []component, cs []cdxComponent) []component {
	for _, c := range cs {
		var parts []string
		for _, l := range c.Licenses {
			part := l.Expression
			if l.License != nil {
				part = cmp.Or(l.License.ID, l.License.Name)
			}
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			if strings.ContainsAny(part, " \t\n") {
				part = "(" + part + ")"
			}
			parts = append(parts, part)
		}
		out = append(out, component{name: c.Name, version: c.Version, license: strings.Join(parts, " AND ")})
		out = flatten(out, c.Components)
	}
	return out
}
