package plugin

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
)

func TestParseOutput(t *testing.T) {
	tests := []struct {
		name string
		out  string
		obj  string // the object found; empty: an error
		logs int
	}{
		{"one line", `{"isSuccess":true}` + "\n", `{"isSuccess":true}`, 0},
		{"indented", "{\n    \"code\": 1,\n    \"msg\": \"x\"\n}", "{\n    \"code\": 1,\n    \"msg\": \"x\"\n}", 0},
		{"among log lines", "info: a\n{\"isSuccess\":false}\nwarn: b\n", `{"isSuccess":false}`, 2},
		{"CRLF", "info: a\r\n{\"isSuccess\":true}\r\n", `{"isSuccess":true}`, 1},
		{"empty", "", "", 0},
		{"text", "hello", "", 0},
		{"array", `[{"isSuccess":true}]`, "", 0},
		{"two objects", "{}\n{}\n", "", 0},
		{"truncated", `{"isSuccess":true`, "", 0},
		{"too many lines", strings.Repeat("x\n", maxOutputLines) + "{}", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, logs, err := parseOutput([]byte(tt.out))
			if tt.obj == "" {
				if !errors.Is(err, errdef.ErrInvalidContent) {
					t.Fatalf("parseOutput = %s, %v; want invalid content", obj, err)
				}
				return
			}
			if err != nil || string(obj) != tt.obj || len(logs) != tt.logs {
				t.Fatalf("parseOutput = %s, %q, %v", obj, logs, err)
			}
		})
	}
}

func TestDecodeResult(t *testing.T) {
	tests := []struct {
		name   string
		obj    string
		want   *bool
		code   uint
		target error
	}{
		{"success", `{"isSuccess":true,"name":"x","type":"y","verifierName":"x","message":"m","extensions":{"a":1}}`, ptr(true), 0, nil},
		{"failure", `{"isSuccess":false,"errorReason":"r","remediation":"fix"}`, ptr(false), 0, nil},
		{"unknown fields ignored", `{"isSuccess":true,"subject":"s","nestedResults":[]}`, ptr(true), 0, nil},
		{"plugin error", `{"code":6,"msg":"plugin doesn't support version 0.1.0"}`, nil, 6, nil},
		{"plugin error without code", `{"msg":"x"}`, nil, 0, nil},
		{"isSuccess null", `{"isSuccess":null}`, nil, 0, errdef.ErrInvalidContent},
		{"isSuccess string", `{"isSuccess":"true"}`, nil, 0, errdef.ErrInvalidContent},
		{"message not a string", `{"isSuccess":true,"message":1}`, nil, 0, errdef.ErrInvalidContent},
		{"neither", `{"ok":true}`, nil, 0, errdef.ErrInvalidContent},
		{"malformed error", `{"code":"x"}`, nil, 0, errdef.ErrInvalidContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decodeResult(json.RawMessage(tt.obj))
			var perr *Error
			switch {
			case tt.want != nil:
				if err != nil || *r.IsSuccess != *tt.want {
					t.Fatalf("decodeResult = %+v, %v", r, err)
				}
				if _, err := r.report(); err != nil {
					t.Fatal(err)
				}
			case tt.target != nil:
				if !errors.Is(err, tt.target) || errors.As(err, &perr) {
					t.Fatalf("decodeResult = %+v, %v; want %v", r, err, tt.target)
				}
			default:
				if !errors.As(err, &perr) || perr.Code != tt.code {
					t.Fatalf("decodeResult = %+v, %v; want plugin error %d", r, err, tt.code)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
