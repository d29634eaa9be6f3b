package threshold

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// Name is the policy's name in config.json's policy.plugin.name.
const Name = "thresholdPolicy"

// Limits on the rule tree.
const (
	// MaxDepth bounds how deeply rules nest: the top-level rules are depth
	// 1, the rules of one of them depth 2.
	MaxDepth = 4
	// MaxRules bounds the number of rules in the whole tree.
	MaxRules = 64
)

// Config is the policy plugin section of config.json:
//
//	{
//	  "name": "thresholdPolicy",
//	  "threshold": 2,
//	  "rules": [
//	    {"verifierName": "notation-a"},
//	    {"verifierName": "notation-b"},
//	    {"threshold": 1, "rules": [{"verifierName": "cosign-keyless"}, {"verifierName": "cosign-key"}]}
//	  ]
//	}
//
// passes a subject that two of these three hold: a signature verified by
// notation-a, one verified by notation-b, one verified by either cosign
// verifier. The top level is a group rule (see Rule) with a name.
type Config struct {
	// Name is "thresholdPolicy"; empty is accepted for callers that
	// select the policy by other means.
	Name string `json:"name"`
	// Rules must not be empty.
	Rules []Rule `json:"rules"`
	// Threshold is how many of Rules must hold, from 1 to len(Rules);
	// absent means all of them.
	Threshold *int `json:"threshold,omitempty"`
}

// Rule is one element of a rule list: either a verifier rule, which names a
// verifier, or a group rule, which holds rules of its own and a threshold.
//
// A verifier rule {"verifierName": "notation-a"} holds when at least one
// report made by the verifier of that name (config.json's
// verifier.plugins[].name) on an artifact attached to the subject succeeded.
// Reports of other verifiers, and failed reports, neither help nor hurt.
//
// Reports on artifacts attached to those artifacts (the signature of an
// SBOM, found by nested verification) do not count: a signature on an SBOM
// vouches for the SBOM, not for the image. With "nested": true they count
// too, for that rule only, at any depth below an artifact whose own report
// succeeded.
//
// A group rule {"rules": [...], "threshold": 1} holds when at least
// threshold of its rules hold; absent threshold means all of them.
type Rule struct {
	// VerifierName makes this a verifier rule.
	VerifierName string `json:"verifierName,omitempty"`
	// Nested also counts reports found by nested verification (verifier
	// rules only).
	Nested bool `json:"nested,omitempty"`
	// Rules makes this a group rule.
	Rules []Rule `json:"rules,omitempty"`
	// Threshold is how many of Rules must hold (group rules only), from 1
	// to len(Rules); absent means all of them.
	Threshold *int `json:"threshold,omitempty"`
}

// Validate checks the configuration. Errors wrap errdef.ErrInvalidConfig and
// name the JSON path of the offending field relative to the plugin section
// ("rules[2].rules[0].verifierName").
func (c Config) Validate() error {
	if c.Name != "" && c.Name != Name {
		return invalid("name", "%q is not %q", c.Name, Name)
	}
	n := 0
	return validateGroup(c.Rules, c.Threshold, "", 1, &n)
}

func validateGroup(rules []Rule, threshold *int, path string, depth int, count *int) error {
	if len(rules) == 0 {
		return invalid(join(path, "rules"), "no rules: a group needs at least one")
	}
	if depth > MaxDepth {
		return invalid(join(path, "rules"), "rules nest more than %d levels deep", MaxDepth)
	}
	if threshold != nil && (*threshold < 1 || *threshold > len(rules)) {
		return invalid(join(path, "threshold"), "%d is not between 1 and the number of rules, %d", *threshold, len(rules))
	}
	seen := make(map[string]int)
	for i, r := range rules {
		p := fmt.Sprintf("%s[%d]", join(path, "rules"), i)
		if *count++; *count > MaxRules {
			return invalid(p, "more than %d rules in all", MaxRules)
		}
		if err := r.validate(p, depth, count); err != nil {
			return err
		}
		if r.VerifierName == "" {
			continue
		}
		if j, dup := seen[r.VerifierName]; dup {
			return invalid(p+".verifierName", "%q is also %s[%d]: one verifier would count twice toward the threshold",
				r.VerifierName, join(path, "rules"), j)
		}
		seen[r.VerifierName] = i
	}
	return nil
}

func (r Rule) validate(path string, depth int, count *int) error {
	switch {
	case r.VerifierName != "" && r.Rules != nil:
		return invalid(path, "has both verifierName and rules: a rule names a verifier or groups rules, not both")
	case r.VerifierName != "":
		if strings.TrimSpace(r.VerifierName) != r.VerifierName {
			return invalid(path+".verifierName", "%q has leading or trailing space", r.VerifierName)
		}
		if r.Threshold != nil {
			return invalid(path+".threshold", "only a rule with rules has a threshold")
		}
		return nil
	case r.Rules != nil:
		if r.Nested {
			return invalid(path+".nested", "only a rule with verifierName counts nested reports")
		}
		return validateGroup(r.Rules, r.Threshold, path, depth+1, count)
	}
	return invalid(path, "needs verifierName (a verifier rule) or rules (a group rule)")
}

// ParseConfig decodes the plugin section strictly: a field it does not know,
// or a value of the wrong type, is an error naming its JSON path; then it
// validates the result. Field names match case-insensitively when nothing
// matches exactly, as encoding/json does.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	var obj map[string]json.RawMessage
	if err := decode(data, &obj, "", "an object"); err != nil {
		return Config{}, err
	}
	for _, key := range sortedKeys(obj) {
		raw := obj[key]
		var err error
		switch field(key, "name", "rules", "threshold") {
		case "name":
			err = decode(raw, &c.Name, key, "a string")
		case "rules":
			c.Rules, err = parseRules(raw, key)
		case "threshold":
			c.Threshold, err = parseThreshold(raw, key)
		default:
			err = invalid(key, "unknown field (known: name, rules, threshold)")
		}
		if err != nil {
			return Config{}, err
		}
	}
	return c, c.Validate()
}

func parseRules(data []byte, path string) ([]Rule, error) {
	if isNull(data) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := decode(data, &items, path, "an array"); err != nil {
		return nil, err
	}
	rules := make([]Rule, len(items))
	for i, item := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		var obj map[string]json.RawMessage
		if err := decode(item, &obj, p, "an object"); err != nil {
			return nil, err
		}
		for _, key := range sortedKeys(obj) {
			raw := obj[key]
			var err error
			fp := p + "." + key
			switch field(key, "verifierName", "nested", "rules", "threshold") {
			case "verifierName":
				err = decode(raw, &rules[i].VerifierName, fp, "a string")
			case "nested":
				err = decode(raw, &rules[i].Nested, fp, "a boolean")
			case "rules":
				rules[i].Rules, err = parseRules(raw, fp)
			case "threshold":
				rules[i].Threshold, err = parseThreshold(raw, fp)
			default:
				err = invalid(fp, "unknown field (known: verifierName, nested, rules, threshold)")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return rules, nil
}

func parseThreshold(data []byte, path string) (*int, error) {
	if isNull(data) {
		return nil, nil
	}
	var n int
	if err := decode(data, &n, path, "an integer"); err != nil {
		return nil, err
	}
	return &n, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}

// field returns the known field that key names: exactly, or else ignoring
// case; "" when none does.
func field(key string, known ...string) string {
	if slices.Contains(known, key) {
		return key
	}
	for _, k := range known {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return ""
}

func decode(data []byte, v any, path, want string) error {
	if err := json.Unmarshal(data, v); err != nil {
		if path == "" {
			return fmt.Errorf("thresholdPolicy: expected %s: %v: %w", want, err, errdef.ErrInvalidConfig)
		}
		return invalid(path, "expected %s, got %s", want, describe(data))
	}
	return nil
}

func isNull(data []byte) bool { return bytes.Equal(bytes.TrimSpace(data), []byte("null")) }

func describe(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", path, fmt.Sprintf(format, args...), errdef.ErrInvalidConfig)
}
