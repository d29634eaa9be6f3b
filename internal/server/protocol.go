// Package server is ratify's OPA Gatekeeper external data provider: the
// verify and mutate endpoints Gatekeeper's webhook calls (Gatekeeper
// "External Data", API externaldata.gatekeeper.sh/v1beta1), over TLS 1.3
// with optional mutual TLS, with health and Prometheus endpoints beside.
package server

import (
	"fmt"
	"github.com/openratify/ratify"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// The external data protocol's apiVersion and kinds.
const (
	apiVersion   = "externaldata.gatekeeper.sh/v1beta1"
	kindRequest  = "ProviderRequest"
	kindResponse = "ProviderResponse"
)

// providerRequest is what Gatekeeper sends: the keys to look up.
type providerRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    struct {
		Keys []string `json:"keys"`
	} `json:"request"`
}

// providerResponse is what the provider answers: one item per key, or a
// system error for the whole request.
type providerResponse struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Response   response `json:"response"`
}

type response struct {
	Idempotent  bool   `json:"idempotent"`
	Items       []item `json:"items"`
	SystemError string `json:"systemError,omitempty"`
}

// item is the answer for one key: a value or an error.
type item struct {
	Key   string `json:"key"`
	Value any    `json:"value,omitempty"`
	Error string `json:"error,omitempty"`

	// result is the verification result Value presents, for metrics and
	// spans; nil for mutations and errors.
	result *ratify.Result
}

func newResponse(items []item, systemError string) providerResponse {
	if items == nil {
		items = []item{}
	}
	return providerResponse{
		APIVersion: apiVersion,
		Kind:       kindResponse,
		Response:   response{Idempotent: true, Items: items, SystemError: systemError},
	}
}

// parseKey splits a key into its namespace and image: "[ns]image" as the
// multi-tenancy template sends it, or a bare "image". Only a Kubernetes
// namespace name (an RFC 1123 label) in brackets is a namespace, so that a
// registry named by its IPv6 address ("[::1]:5000/app") stays an image.
func parseKey(key string) (namespace, image string, err error) {
	if key == "" {
		return "", "", fmt.Errorf("empty key: %w", errdef.ErrInvalidReference)
	}
	if !strings.HasPrefix(key, "[") {
		return "", key, nil
	}
	end := strings.IndexByte(key, ']')
	if end < 0 {
		return "", "", fmt.Errorf("key %q: namespace has no closing ']': %w", key, errdef.ErrInvalidReference)
	}
	namespace, image = key[1:end], key[end+1:]
	if !isLabel(namespace) {
		return "", key, nil
	}
	if image == "" {
		return "", "", fmt.Errorf("key %q: namespace without an image: %w", key, errdef.ErrInvalidReference)
	}
	return namespace, image, nil
}

// isLabel reports whether s is an RFC 1123 label, as Kubernetes namespace
// names are: at most 63 lower-case letters, digits and '-', starting and
// ending with a letter or digit.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
