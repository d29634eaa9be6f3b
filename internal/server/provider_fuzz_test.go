package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// FuzzParseKey feeds arbitrary provider keys to the key parser: it never
// panics, every refusal wraps errdef.ErrInvalidReference, and what it
// accepts splits the key exactly: "[namespace]image" with a namespace
// that is a Kubernetes namespace name and a non-empty image, or the whole
// key as the image with no namespace.
func FuzzParseKey(f *testing.F) {
	for _, k := range []string{"registry.example/app:v1", "[team-a]registry.example/app@sha256:" + strings.Repeat("0", 64),
		"[]nginx", "[ns]", "[ns", "]ns[image", "[a]]b", "[[a]b", "", "[ns][ns2]image", "\x00[ns]\xff", "[::1]:5000/app:v1", "[Team_B]app"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ns, image, err := parseKey(key)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidReference) {
				t.Fatalf("parseKey(%q): error %v does not wrap ErrInvalidReference", key, err)
			}
			return
		}
		if image == "" {
			t.Fatalf("parseKey(%q) accepted an empty image", key)
		}
		switch {
		case ns == "" && image != key:
			t.Fatalf("parseKey(%q) = %q, %q: without a namespace the image is the whole key", key, ns, image)
		case ns != "" && (!isLabel(ns) || key != "["+ns+"]"+image):
			t.Fatalf("parseKey(%q) = %q, %q: not the key's own split into a namespace name and an image", key, ns, image)
		case ns != "" && !strings.HasPrefix(key, "["):
			t.Fatalf("parseKey(%q) = %q, %q: a key without '[' has no namespace", key, ns, image)
		}
	})
}

// FuzzProviderRequest sends arbitrary bodies to the verify and mutate
// handlers, as Gatekeeper (or anyone reaching the port) could. The server
// never panics and always answers a ProviderResponse: 200 with one item
// per key, in order, each with a value or an error; or a 4xx with a system
// error and no items. Only keys naming the signed image can pass. The
// configuration allows only the test registry, so that fuzzed keys never
// make the server reach beyond loopback.
func FuzzProviderRequest(f *testing.F) {
	reg := testregistry.New(f, testregistry.Options{Referrers: true})
	ca, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := ca.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	signed := reg.PushImage(f, "app/signed", "v1")
	reg.Sign(f, "app/signed", signed, leaf)
	unsigned := reg.PushImage(f, "app/unsigned", "v1")
	dir := f.TempDir()
	if err := testpki.WritePEM(filepath.Join(dir, "certs", "ca.pem"), ca.Cert); err != nil {
		f.Fatal(err)
	}
	cfg := baseConfig()
	cfg["store"] = map[string]any{"plugins": []any{map[string]any{"name": "oras", "useHttp": true, "allowedRegistries": []string{reg.Host()}}}}
	data, err := json.Marshal(cfg)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		f.Fatal(err)
	}
	srv, err := New(Options{ConfigPath: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	signedRepo := reg.Host() + "/app/signed"

	f.Add(requestBody(signedRepo+"@"+signed.Digest.String(), "[team-a]"+signedRepo+":v1"), false)
	f.Add(requestBody(reg.Host()+"/app/unsigned@"+unsigned.Digest.String(), "[ns]"+reg.Host()+"/app/unsigned:v1"), true)
	f.Add(requestBody("registry.example/app:v1", "[x]Upper/Case:v1", "[", "[ns]"), false)
	f.Add([]byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":null}}`), true)
	f.Add([]byte(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":[1,2]}}`), false)
	f.Add([]byte(`{"APIVERSION":"externaldata.gatekeeper.sh/v1beta1","Kind":"ProviderRequest","request":{"keys":["a"],"keys":["b"]}}`), false)
	f.Add([]byte(`[]`), true)
	f.Add([]byte("\xff\xfe"), false)

	f.Fuzz(func(t *testing.T, body []byte, mutate bool) {
		path := verifyPath
		if mutate {
			path = mutatePath
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var resp struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Response   struct {
				Items []struct {
					Key   *string         `json:"key"`
					Value json.RawMessage `json:"value"`
					Error string          `json:"error"`
				} `json:"items"`
				SystemError string `json:"systemError"`
			} `json:"response"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%d answer is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		if resp.APIVersion != apiVersion || resp.Kind != kindResponse {
			t.Fatalf("answer is not a ProviderResponse: %s", rec.Body.Bytes())
		}
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code < 500:
			if resp.Response.SystemError == "" || len(resp.Response.Items) != 0 {
				t.Fatalf("%d answer without a system error, or with items: %s", rec.Code, rec.Body.Bytes())
			}
			return
		case rec.Code == http.StatusInternalServerError && strings.Contains(resp.Response.SystemError, "did not finish within"):
			return // thousands of keys may not all be verified within the deadline
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
		}
		var sent providerRequest
		if err := json.Unmarshal(body, &sent); err != nil {
			t.Fatalf("200 for a body that does not decode: %v", err)
		}
		keys := sent.Request.Keys
		if len(resp.Response.Items) != len(keys) {
			t.Fatalf("%d items for %d keys", len(resp.Response.Items), len(keys))
		}
		for i, it := range resp.Response.Items {
			if it.Key == nil || *it.Key != keys[i] {
				t.Fatalf("item %d answers key %v, want %q", i, it.Key, keys[i])
			}
			hasValue := len(it.Value) > 0 && string(it.Value) != "null"
			if hasValue == (it.Error != "") {
				t.Fatalf("item %d (%q) has a value and an error, or neither: %+v", i, keys[i], it)
			}
			if mutate || !hasValue {
				continue
			}
			var v struct {
				IsSuccess bool `json:"isSuccess"`
			}
			if err := json.Unmarshal(it.Value, &v); err != nil {
				t.Fatalf("item %d value is not a result: %s", i, it.Value)
			}
			_, image, _ := parseKey(keys[i])
			if v.IsSuccess && !strings.HasPrefix(image, signedRepo+":") && !strings.HasPrefix(image, signedRepo+"@") {
				t.Fatalf("key %q passed verification; only the signed image may", keys[i])
			}
		}
	})
}
