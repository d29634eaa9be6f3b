package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// InputConfig is what a plugin reads on its standard input: Ratify v1's
// plugin input configuration.
type InputConfig struct {
	// Config is the verifier entry of config.json.
	Config json.RawMessage `json:"config"`
	// StoreConfig describes the store the plugin reads the artifact from.
	StoreConfig StoreConfig `json:"storeConfig"`
	// ReferenceDesc is the artifact's descriptor: its manifest's media
	// type, digest and size, and its artifactType.
	ReferenceDesc ocispec.Descriptor `json:"referenceDesc"`
}

// Result is a plugin's verdict on standard output: Ratify v1's plugin
// verifier result. IsSuccess must be present.
type Result struct {
	IsSuccess   *bool  `json:"isSuccess"`
	Message     string `json:"message,omitempty"`
	ErrorReason string `json:"errorReason,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	// Name, VerifierName, Type and VerifierType are what the plugin calls
	// itself; reports carry the configured name and type instead.
	Name         string `json:"name,omitempty"`
	VerifierName string `json:"verifierName,omitempty"`
	Type         string `json:"type,omitempty"`
	VerifierType string `json:"verifierType,omitempty"`
	// Extensions are the plugin's own facts about the artifact.
	Extensions json.RawMessage `json:"extensions,omitempty"`
}

// Error is the error a plugin reports on standard output instead of a
// result: Ratify v1's plugin error. Code is one of v1's error codes (1
// config parsing, 2 invalid config, 3 unknown command, 4 missing
// environment variables, 5 I/O, 6 version not supported, 7 arguments, 8
// plugin command failure, 999 internal).
type Error struct {
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details,omitempty"`
}

// Error returns the message and details.
func (e *Error) Error() string {
	s := fmt.Sprintf("plugin error %d: %s", e.Code, e.Msg)
	if e.Details != "" {
		s += "; " + e.Details
	}
	return s
}

// maxOutputLines bounds the lines of standard output scanned for the
// result.
const maxOutputLines = 10000

// parseOutput finds the one JSON object a plugin wrote to standard output:
// the whole output, or, as v1 reads it, one line among log lines. It
// returns the object and the other lines. No object, or more than one, is
// an error wrapping errdef.ErrInvalidContent.
func parseOutput(out []byte) (json.RawMessage, []string, error) {
	trimmed := bytes.TrimSpace(out)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		return trimmed, nil, nil
	}
	var obj json.RawMessage
	var logs []string
	for i, line := range bytes.Split(trimmed, []byte("\n")) {
		if i == maxOutputLines {
			return nil, nil, fmt.Errorf("more than %d lines of output: %w", maxOutputLines, errdef.ErrInvalidContent)
		}
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
		case line[0] == '{' && json.Valid(line):
			if obj != nil {
				return nil, nil, fmt.Errorf("the output holds more than one JSON object: %w", errdef.ErrInvalidContent)
			}
			obj = line
		default:
			logs = append(logs, string(line))
		}
	}
	if obj == nil {
		return nil, logs, fmt.Errorf("the output holds no JSON result (%s): %w", excerpt(trimmed), errdef.ErrInvalidContent)
	}
	return obj, logs, nil
}

// decodeResult reads a plugin's result object: a verdict, or an *Error
// the plugin reported. Anything else is an error wrapping
// errdef.ErrInvalidContent.
func decodeResult(obj json.RawMessage) (*Result, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		return nil, fmt.Errorf("result: %v: %w", err, errdef.ErrInvalidContent)
	}
	if _, ok := fields["isSuccess"]; !ok {
		if perr, err := decodeError(obj); err == nil {
			return nil, perr
		}
		return nil, fmt.Errorf("the output is neither a verifier result (no isSuccess) nor a plugin error (%s): %w", excerpt(obj), errdef.ErrInvalidContent)
	}
	var r Result
	if err := json.Unmarshal(obj, &r); err != nil || r.IsSuccess == nil {
		return nil, fmt.Errorf("malformed verifier result (%s): isSuccess must be true or false, and the other fields strings: %w",
			excerpt(obj), errdef.ErrInvalidContent)
	}
	return &r, nil
}

// decodeError reads a plugin error object, which has a msg or a code.
func decodeError(obj json.RawMessage) (*Error, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(obj, &fields); err != nil {
		return nil, err
	}
	_, hasCode := fields["code"]
	_, hasMsg := fields["msg"]
	if !hasCode && !hasMsg {
		return nil, fmt.Errorf("not a plugin error: %w", errdef.ErrInvalidContent)
	}
	var e Error
	if err := json.Unmarshal(obj, &e); err != nil {
		return nil, fmt.Errorf("malformed plugin error: %v: %w", err, errdef.ErrInvalidContent)
	}
	return &e, nil
}

// report turns a result into a report. Extensions that are not a JSON
// object are kept under "value".
func (r *Result) report() (ratify.Report, error) {
	rep := ratify.Report{IsSuccess: *r.IsSuccess, Message: r.Message, ErrorReason: r.ErrorReason, Remediation: r.Remediation}
	if !rep.IsSuccess && rep.ErrorReason == "" {
		rep.ErrorReason = rep.Message
	}
	ext := bytes.TrimSpace(r.Extensions)
	if len(ext) == 0 || string(ext) == "null" {
		return rep, nil
	}
	dec := json.NewDecoder(bytes.NewReader(ext))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return ratify.Report{}, fmt.Errorf("extensions: %v: %w", err, errdef.ErrInvalidContent)
	}
	if m, ok := v.(map[string]any); ok {
		rep.Extensions = m
	} else {
		rep.Extensions = map[string]any{"value": v}
	}
	return rep, nil
}

// excerpt is the start of b, for error messages.
func excerpt(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "empty"
	}
	return fmt.Sprintf("%q", s)
}
