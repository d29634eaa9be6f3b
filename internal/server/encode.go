package server

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The provider's answers are encoded by hand, byte for byte as
// encoding/json encodes a providerResponse (TestResponseEncoding and
// FuzzResponseEncoding hold the two together): a warm request is mostly
// encoding, and a verification result's JSON, made once when its verdict
// was cached (cache.Answer.JSON), is copied into every answer that serves
// it rather than encoded again by reflection.

// tracedResult is the value of a verify item: a ratify.Result encoded
// without a trace ID (cache.Answer.JSON), and the request's trace ID to set
// in it. It encodes as json.Marshal encodes the Result with that trace ID.
type tracedResult struct {
	enc     []byte
	cut     int // where "traceID" goes in enc: after "isSuccess"
	traceID string
}

// newTracedResult returns enc with traceID, or false when enc does not
// start as an encoded ratify.Result does ({"version":"...","isSuccess":...,
// followed by more members).
func newTracedResult(enc []byte, traceID string) (tracedResult, bool) {
	const head = `{"version":"`
	if !bytes.HasPrefix(enc, []byte(head)) {
		return tracedResult{}, false
	}
	end := bytes.IndexByte(enc[len(head):], '"')
	if end < 0 || bytes.IndexByte(enc[len(head):len(head)+end], '\\') >= 0 {
		return tracedResult{}, false
	}
	cut := len(head) + end + 1
	switch rest := enc[cut:]; {
	case bytes.HasPrefix(rest, []byte(`,"isSuccess":true,`)):
		cut += len(`,"isSuccess":true`)
	case bytes.HasPrefix(rest, []byte(`,"isSuccess":false,`)):
		cut += len(`,"isSuccess":false`)
	default:
		return tracedResult{}, false
	}
	return tracedResult{enc: enc, cut: cut, traceID: traceID}, true
}

func (t tracedResult) appendJSON(b []byte) []byte {
	if t.traceID == "" { // omitempty
		return append(b, t.enc...)
	}
	b = append(b, t.enc[:t.cut]...)
	b = append(b, `,"traceID":`...)
	b = appendString(b, t.traceID)
	return append(b, t.enc[t.cut:]...)
}

// MarshalJSON makes tracedResult encode the same through encoding/json.
func (t tracedResult) MarshalJSON() ([]byte, error) { return t.appendJSON(nil), nil }

// appendResponse appends what json.NewEncoder(w).Encode(resp) writes.
func appendResponse(b []byte, resp providerResponse) ([]byte, error) {
	b = append(b, `{"apiVersion":`...)
	b = appendString(b, resp.APIVersion)
	b = append(b, `,"kind":`...)
	b = appendString(b, resp.Kind)
	b = append(b, `,"response":{"idempotent":`...)
	b = strconv.AppendBool(b, resp.Response.Idempotent)
	b = append(b, `,"items":`...)
	if resp.Response.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, it := range resp.Response.Items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendItem(b, it); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	if resp.Response.SystemError != "" {
		b = append(b, `,"systemError":`...)
		b = appendString(b, resp.Response.SystemError)
	}
	return append(b, "}}\n"...), nil
}

func appendItem(b []byte, it item) ([]byte, error) {
	b = append(b, `{"key":`...)
	b = appendString(b, it.Key)
	if it.Value != nil {
		b = append(b, `,"value":`...)
		switch v := it.Value.(type) {
		case tracedResult:
			b = v.appendJSON(b)
		case string:
			b = appendString(b, v)
		default:
			enc, err := json.Marshal(v)
			if err != nil {
				return b, err
			}
			b = append(b, enc...)
		}
	}
	if it.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, it.Error)
	}
	return append(b, '}'), nil
}

// appendString appends s as encoding/json quotes it (HTML characters
// escaped, invalid UTF-8 replaced): by hand when only the quotes are
// needed, else through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// maxPooledBuffer is the largest buffer kept for the next answer
// (Server.buffers): one for thousands of keys is left to the collector.
const maxPooledBuffer = 256 << 10
