package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// decodeStrict decodes JSON data into v (a pointer) and rejects any field v's
// type does not declare. Errors name the JSON path of the offending value
// ("verifier.plugins[0].trustPolicyDoc.trustPolicies[1].naem") and wrap
// errdef.ErrInvalidConfig.
//
// Field names match case-insensitively when no exact match exists, as
// encoding/json (and so Ratify v1) accepts them.
func decodeStrict(data []byte, v any) error {
	var probe any
	if err := json.Unmarshal(data, &probe); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(data, se.Offset)
			return fmt.Errorf("config is not valid JSON: line %d, column %d: %v: %w", line, col, err, errdef.ErrInvalidConfig)
		}
		return fmt.Errorf("config is not valid JSON: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return decodeValue(data, reflect.ValueOf(v).Elem(), "")
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func decodeValue(data []byte, v reflect.Value, path string) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		return nil
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		return decodeLeaf(data, v, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeValue(data, v.Elem(), path)
	case reflect.Struct:
		return decodeStruct(data, v, path)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // []byte is base64 in JSON
			return decodeLeaf(data, v, path)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return typeError(path, "an array", data)
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			if err := decodeValue(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return decodeLeaf(data, v, path)
		}
		items, err := objectMembers(data)
		if err != nil {
			return typeError(path, "an object", data)
		}
		m := reflect.MakeMapWithSize(v.Type(), len(items))
		for _, item := range items {
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := decodeValue(item.raw, elem, fmt.Sprintf("%s[%s]", path, strconv.Quote(item.key))); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(item.key).Convert(v.Type().Key()), elem)
		}
		v.Set(m)
		return nil
	default:
		return decodeLeaf(data, v, path)
	}
}

func decodeStruct(data []byte, v reflect.Value, path string) error {
	fields, err := objectMembers(data)
	if err != nil {
		return typeError(path, "an object", data)
	}
	for _, m := range fields {
		f, ok := fieldByJSONName(v, m.key)
		if !ok {
			return fmt.Errorf("%s: unknown field%s: %w", join(path, m.key), known(v.Type()), errdef.ErrInvalidConfig)
		}
		if err := decodeValue(m.raw, f, join(path, m.key)); err != nil {
			return err
		}
	}
	return nil
}

// member is one name and value of a JSON object.
type member struct {
	key string
	raw json.RawMessage
}

// objectMembers returns the members of the JSON object data in the order
// they are written, so that of several mistakes the first one written is
// the one reported, every time. A name given twice is decoded twice, the
// last one winning, as encoding/json does.
func objectMembers(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, member{key, raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the object")
	}
	return out, nil
}

// fieldByJSONName finds the field of struct v that JSON key names, looking
// into embedded structs as encoding/json does.
func fieldByJSONName(v reflect.Value, key string) (reflect.Value, bool) {
	var fold reflect.Value
	for i := 0; i < v.NumField(); i++ {
		sf := v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			if f, ok := fieldByJSONName(v.Field(i), key); ok {
				return f, true
			}
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if name == key {
			return v.Field(i), true
		}
		if !fold.IsValid() && strings.EqualFold(name, key) {
			fold = v.Field(i)
		}
	}
	return fold, fold.IsValid()
}

func decodeLeaf(data []byte, v reflect.Value, path string) error {
	if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return typeError(path, "a "+kindName(v.Type()), data)
		}
		return fmt.Errorf("%s: %v: %w", orRoot(path), err, errdef.ErrInvalidConfig)
	}
	return nil
}

func typeError(path, want string, data []byte) error {
	return fmt.Errorf("%s: expected %s, got %s: %w", orRoot(path), want, describeJSON(data), errdef.ErrInvalidConfig)
}

// describeJSON names the kind of a JSON value, quoting short scalars, in
// one line.
func describeJSON(data []byte) string {
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	s := string(data)
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.Join(strings.Fields(s), " ")
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// known lists the field names a struct accepts, for the unknown-field error.
func known(t reflect.Type) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.IsExported() && name != "" && name != "-" {
			names = append(names, name)
		}
	}
	if len(names) == 0 || len(names) > 12 {
		return ""
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}
