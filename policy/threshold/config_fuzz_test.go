package threshold_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/policy/threshold"
)

// FuzzParseConfig: any input either parses into a configuration that New
// accepts and that survives a JSON round trip unchanged, or is refused with
// ErrInvalidConfig; deciding never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"name":"thresholdPolicy","threshold":2,"rules":[{"verifierName":"a"},{"verifierName":"b"},{"verifierName":"c"}]}`))
	f.Add([]byte(`{"rules":[{"verifierName":"a","nested":true},{"threshold":1,"rules":[{"verifierName":"b"},{"rules":[{"verifierName":"c"}]}]}]}`))
	f.Add([]byte(`{"rules":[{"verifierName":"a","rules":[]}],"threshold":null}`))
	f.Add([]byte(`{"Rules":[{"VERIFIERNAME":"a"}]}`))
	reports := []ratify.Report{
		{VerifierName: "a", IsSuccess: true},
		{VerifierName: "b", IsSuccess: false},
		{VerifierName: "s", IsSuccess: true, NestedResults: []ratify.Report{{VerifierName: "c", IsSuccess: true}}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := threshold.ParseConfig(data)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("ParseConfig error does not wrap ErrInvalidConfig: %v", err)
			}
			return
		}
		p, err := threshold.New(cfg, threshold.Options{})
		if err != nil {
			t.Fatalf("New refused what ParseConfig accepted: %v", err)
		}
		p.Decide(context.Background(), reports)
		p.Decide(context.Background(), nil)
		again, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg2, err := threshold.ParseConfig(again)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", again, err)
		}
		if !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("round trip changed the configuration: %+v, then %+v", cfg, cfg2)
		}
	})
}
