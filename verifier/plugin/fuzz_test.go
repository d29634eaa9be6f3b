package plugin

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzPluginOutput feeds arbitrary standard output to the output parser
// and the result decoder: they never panic, and only a result whose
// isSuccess is JSON true passes.
func FuzzPluginOutput(f *testing.F) {
	f.Add([]byte(`{"isSuccess":true,"message":"ok","extensions":{"a":[1,2]}}`))
	f.Add([]byte("info: x\n{\"isSuccess\":false}\nwarn: y"))
	f.Add([]byte("{\n    \"code\": 8,\n    \"msg\": \"failed\",\n    \"details\": \"d\"\n}"))
	f.Add([]byte(`{"isSuccess":1}`))
	f.Add([]byte(`{"isSuccess":true,"extensions":"text"}` + "\n" + `{"isSuccess":true}`))
	f.Add([]byte("\x00{\xff}"))
	f.Fuzz(func(t *testing.T, out []byte) {
		obj, _, err := parseOutput(out)
		if err != nil {
			return
		}
		r, err := decodeResult(obj)
		if err != nil {
			var perr *Error
			_ = errors.As(err, &perr)
			return
		}
		rep, err := r.report()
		if err != nil {
			return
		}
		if rep.IsSuccess != *r.IsSuccess {
			t.Fatalf("report %+v from result %s", rep, obj)
		}
		if rep.IsSuccess {
			var probe struct {
				IsSuccess any `json:"isSuccess"`
			}
			if jsonErr := json.Unmarshal(obj, &probe); jsonErr != nil || probe.IsSuccess != true {
				t.Fatalf("passed output %q", out)
			}
		}
	})
}
