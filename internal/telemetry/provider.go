// Package telemetry traces verifications with OpenTelemetry and times their
// stages. It holds what the root package must not link: the OpenTelemetry
// SDK and its OTLP exporters (OTLP specification 1.x, over gRPC or
// HTTP/protobuf), configured from the standard environment variables of the
// OpenTelemetry SDK configuration specification, and the wrappers that give
// registry calls, OCSP and CRL fetches, verifier calls and policy decisions
// their spans and durations.
package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/openratify/ratify/errdef"
)

// The OTLP protocols (OTEL_EXPORTER_OTLP_PROTOCOL).
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// TracerName is the instrumentation scope of ratify's spans.
const TracerName = "github.com/openratify/ratify"

// Options say where spans go. The zero value reads only the environment.
type Options struct {
	// OTLPEndpoint, when set, is the collector's base URL
	// (http://collector:4318, https://collector:4317), as
	// OTEL_EXPORTER_OTLP_ENDPOINT says it, and wins over the environment:
	// over HTTP, spans go to its path plus /v1/traces.
	OTLPEndpoint string
	// ServiceVersion is the service.version resource attribute.
	ServiceVersion string
}

// Provider is a TracerProvider that batches spans and exports them with
// OTLP. Shutdown flushes what is queued within its context's deadline.
type Provider struct {
	*sdktrace.TracerProvider
	// Protocol and Endpoint say where spans go, for logs; Endpoint is
	// empty when the exporter's default (localhost) applies.
	Protocol string
	Endpoint string
}

// New returns the Provider that opts and the environment configure, or nil
// when they configure none: then nothing is exported and no exporter
// starts. Tracing is on when opts.OTLPEndpoint,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set,
// or OTEL_TRACES_EXPORTER is "otlp"; OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn it off. The protocol is
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL, grpc
// or http/protobuf (the default). The exporters read the other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, certificates,
// compression), the SDK reads OTEL_TRACES_SAMPLER(_ARG) and the batch
// processor's OTEL_BSP_* (queue of 2048 spans by default, dropped past
// that, never blocking a verification), and OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES name the service ("ratify" by default). Errors
// wrap errdef.ErrInvalidConfig or errdef.ErrUnsupported.
func New(ctx context.Context, opts Options) (*Provider, error) {
	on, err := configured(opts)
	if err != nil || !on {
		return nil, err
	}
	protocol := firstEnv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
	if protocol == "" {
		protocol = ProtocolHTTP
	}
	endpoint := opts.OTLPEndpoint
	if endpoint != "" {
		if err := checkEndpoint(endpoint); err != nil {
			return nil, err
		}
	}
	var exp *otlptrace.Exporter
	switch protocol {
	case ProtocolHTTP:
		var o []otlptracehttp.Option
		if endpoint != "" {
			u, _ := url.Parse(endpoint) // checked above
			u.Path = path.Join("/", u.Path, "v1/traces")
			o = append(o, otlptracehttp.WithEndpointURL(u.String()))
		}
		exp, err = otlptracehttp.New(ctx, o...)
	case ProtocolGRPC:
		var o []otlptracegrpc.Option
		if endpoint != "" {
			o = append(o, otlptracegrpc.WithEndpointURL(endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, o...)
	default:
		return nil, fmt.Errorf("OTLP protocol %q: want %s or %s: %w", protocol, ProtocolGRPC, ProtocolHTTP, errdef.ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %v: %w", err, errdef.ErrInvalidConfig)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "ratify"), attribute.String("service.version", opts.ServiceVersion)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("OpenTelemetry resource: %v: %w", err, errdef.ErrInvalidConfig)
	}
	return &Provider{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)),
		Protocol:       protocol,
		Endpoint:       cmp.Or(endpoint, firstEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")),
	}, nil
}

// configured reports whether opts and the environment ask for spans.
func configured(opts Options) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	switch e := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); e {
	case "none":
		return false, nil
	case "otlp":
		return true, nil
	case "":
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp (or none) is available: %w", e, errdef.ErrUnsupported)
	}
	return opts.OTLPEndpoint != "" || firstEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") != "", nil
}

// checkEndpoint refuses what the exporters would silently replace with
// their default: a URL that does not parse or lacks scheme or host.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("OTLP endpoint %q: want http://HOST:PORT or https://HOST:PORT: %w", endpoint, errdef.ErrInvalidConfig)
	}
	return nil
}

// firstEnv returns the first of the variables that is set.
func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}
