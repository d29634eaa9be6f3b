package sbom

import (
	"slices"
	"strings"
	"unicode"
)

// MaxListedViolations bounds each list of violations a report carries; the
// report's message still counts them all.
const MaxListedViolations = 100

// Violation is a package that breaks a rule, in the shape of Ratify v1's
// reports, whose keys were capitalized.
type Violation struct {
	Name    string `json:"Name"`
	Version string `json:"Version"`
	License string `json:"License"`
}

// findings are the violations of one document.
type findings struct {
	licenses, packages []Violation
	// licenseCount and packageCount count every violation, listed or not.
	licenseCount, packageCount int
}

// check runs the deny lists over every component of doc.
func (v *Verifier) check(doc document) findings {
	var f findings
	for _, c := range doc.components {
		violation := Violation{Name: c.name, Version: c.version, License: c.license}
		if v.disallowedLicense(c.license) {
			f.licenseCount++
			if len(f.licenses) < MaxListedViolations {
				f.licenses = append(f.licenses, violation)
			}
		}
		if v.disallowedPackage(c) {
			f.packageCount++
			if len(f.packages) < MaxListedViolations {
				f.packages = append(f.packages, violation)
			}
		}
	}
	return f
}

// disallowedLicense reports whether a disallowed license appears in the
// license expression as a whole word (or run of words).
func (v *Verifier) disallowedLicense(expression string) bool {
	if len(v.licenses) == 0 || expression == "" {
		return false
	}
	words := tokens(expression)
	for _, d := range v.licenses {
		for i := 0; i+len(d) <= len(words); i++ {
			if slices.Equal(words[i:i+len(d)], d) {
				return true
			}
		}
	}
	return false
}

// disallowedPackage reports whether c is a disallowed package: its name
// matches exactly and the deny list entry gives no version or c's.
func (v *Verifier) disallowedPackage(c component) bool {
	return slices.ContainsFunc(v.packages, func(p Package) bool {
		return p.Name == c.name && (p.version() == "" || p.version() == c.version)
	})
}

// tokens splits a license expression (SPDX specification v2.3, Annex D)
// into its words, lower-cased: identifiers and operators, without the
// parentheses and white space between them.
func tokens(expression string) []string {
	return strings.FieldsFunc(strings.ToLower(expression), func(r rune) bool {
		return unicode.IsSpace(r) || r == '(' || r == ')'
	})
}
