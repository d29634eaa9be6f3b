package main

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testratify"
)

func TestServeTracingFlagChecked(t *testing.T) {
	for _, v := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		t.Setenv(v, "")
	}
	config := testratify.WriteConfig(t, testratify.ConfigOptions{})
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want error
	}{
		"endpoint without scheme": {args: []string{"--tracing-otlp-endpoint", "collector:4318"}, want: errdef.ErrInvalidConfig},
		"unknown protocol": {args: []string{"--tracing-otlp-endpoint", "http://127.0.0.1:4318"},
			env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, want: errdef.ErrUnsupported},
		"unknown exporter": {env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, want: errdef.ErrUnsupported},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cmd := newServeCommand()
			cmd.SetArgs(append([]string{"-c", config, "--http", "127.0.0.1:0", "--health-port", "-", "--metrics-enabled=false"}, tc.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a serve that started would stop at once, not hang the test
			if err := cmd.ExecuteContext(ctx); !errors.Is(err, tc.want) {
				t.Errorf("serve %q: %v, want %v", tc.args, err, tc.want)
			}
		})
	}
}
