package gatekeeper

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	apiconstraints "github.com/open-policy-agent/frameworks/constraint/pkg/apis/constraints"
	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	clienterrors "github.com/open-policy-agent/frameworks/constraint/pkg/client/errors"
	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
)

// templateKeys are the ConstraintTemplates of library/ and the keys each sends
// for an image in a namespace.
var templateKeys = map[string]func(namespace, image string) string{
	"default/template.yaml":       func(_, image string) string { return image },
	"multi-tenancy/template.yaml": func(ns, image string) string { return "[" + ns + "]" + image },
}

// TestTemplatesCompile: Gatekeeper's Rego driver, with external data on,
// accepts both templates (it parses and compiles the Rego and checks the
// violation rule, as Gatekeeper does when a template is applied), and
// refuses the same template with a syntax error added: the check can fail.
func TestTemplatesCompile(t *testing.T) {
	for path := range templateKeys {
		t.Run(path, func(t *testing.T) {
			templ := loadTemplate(t, path)
			if templ.Name != "ratifyverification" || templ.Spec.CRD.Spec.Names.Kind != "RatifyVerification" {
				t.Errorf("template %q of kind %q; want ratifyverification, RatifyVerification", templ.Name, templ.Spec.CRD.Spec.Names.Kind)
			}
			if len(templ.Spec.Targets) != 1 || templ.Spec.Targets[0].Target != admissionTargetName {
				t.Fatalf("targets %+v; want one, %s", templ.Spec.Targets, admissionTargetName)
			}
			broken := templ.DeepCopy()
			for _, code := range broken.Spec.Targets[0].Code {
				if src, ok := code.Source.Value.(map[string]any); ok {
					src["rego"] = src["rego"].(string) + "\nviolation[{\"msg\": msg}] {\n"
				}
			}
			for _, tc := range []struct {
				name    string
				wantErr error
			}{{"as written", nil}, {"broken", clienterrors.ErrInvalidConstraintTemplate}} {
				client := must(constraintclient.NewClient(constraintclient.Targets(admissionTarget{}),
					constraintclient.Driver(must(rego.New(rego.AddExternalDataProviderCache(externaldata.NewCache())))(t)),
					constraintclient.EnforcementPoints(apiconstraints.WebhookEnforcementPoint)))(t)
				ct := templ
				if tc.wantErr != nil {
					ct = broken
				}
				if _, err := client.AddTemplate(context.Background(), ct); !errors.Is(err, tc.wantErr) {
					t.Errorf("AddTemplate (%s): %v; want %v", tc.name, err, tc.wantErr)
				}
			}
		})
	}
}

// TestTemplatesFailClosed drives each template with a stub provider that
// answers what ratify should never answer, and checks that every such answer
// denies the Pod with its own message, and that only a complete, successful
// answer admits it.
func TestTemplatesFailClosed(t *testing.T) {
	const a, b = "registry.example/a:v1", "registry.example/b:v1"
	type item = map[string]any
	ok := func(key string) item { return item{"key": key, "value": item{"version": "0.2.0", "isSuccess": true}} }
	for _, tc := range []struct {
		name string
		// answer returns the status and body the stub answers for keys
		// (the keys of a, then b).
		answer func(ka, kb string) (int, any)
		// want are the denials; one ending in "*" need only start with
		// what comes before.
		want []string
	}{
		{"all verified", func(ka, kb string) (int, any) { return 200, items(ok(ka), ok(kb)) }, nil},
		{"one failed", func(ka, kb string) (int, any) {
			return 200, items(ok(ka), item{"key": kb, "value": item{"isSuccess": false}})
		}, []string{"Subject failed verification: " + b}},
		{"item error", func(ka, kb string) (int, any) { return 200, items(ok(ka), item{"key": kb, "error": "boom"}) },
			[]string{"Could not verify image " + b + ": boom"}},
		{"system error", func(ka, kb string) (int, any) { return 200, response(item{"systemError": "boom"}) },
			[]string{"System error calling external data provider: boom"}},
		{"HTTP 500, no system error", func(ka, kb string) (int, any) { return 500, items(ok(ka), ok(kb)) },
			[]string{"System error calling external data provider: HTTP status 500"}},
		{"no answer for b", func(ka, kb string) (int, any) { return 200, items(ok(ka)) },
			[]string{"Could not verify image " + b + ": the provider did not answer for it"}},
		{"no isSuccess", func(ka, kb string) (int, any) {
			return 200, items(ok(ka), item{"key": kb, "value": "registry.example/b@sha256:0"})
		}, []string{"Could not verify image " + b + ": the provider's answer has no isSuccess"}},
		{"not JSON", func(ka, kb string) (int, any) { return 200, "<html>" },
			[]string{"System error calling external data provider: failed to unmarshal external data response: *"}},
	} {
		for path, key := range templateKeys {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				m := newTLSMaterial(t)
				addr := stubProvider(t, m, func(keys []string) (int, any) {
					if len(keys) != 2 || keys[0] != key("team-a", a) || keys[1] != key("team-a", b) {
						return 200, response(item{"systemError": "stub: unexpected keys " + strings.Join(keys, ",")})
					}
					return tc.answer(keys[0], keys[1])
				})
				gk := newGatekeeper(t, gatekeeperOptions{Template: path, ProviderAddr: addr, CABundle: m.CABundle(t),
					ClientCert: m.ClientCert, ClientKey: m.ClientKey})
				got := gk.review(t, createRequest(t, "team-a", pod{Containers: []string{b, a}}))
				var want []string
				for _, w := range tc.want {
					want = append(want, "[ratify-constraint] "+w)
				}
				for i := range min(len(got), len(want)) {
					if p, ok := strings.CutSuffix(want[i], "*"); ok && strings.HasPrefix(got[i], p) {
						got[i] = want[i]
					}
				}
				wantDenials(t, got, want...)
			})
		}
	}
}

// items is a ProviderResponse body holding items.
func items(items ...map[string]any) map[string]any {
	return response(map[string]any{"idempotent": true, "items": items})
}

// response is a ProviderResponse body (externaldata.gatekeeper.sh/v1beta1).
func response(r map[string]any) map[string]any {
	return map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderResponse", "response": r}
}

// stubProvider starts an external data provider that requires m's client
// certificates, as ratify does, and answers with answer(keys); a string body
// is sent as is, anything else as JSON. It returns its address.
func stubProvider(t *testing.T, m *tlsMaterial, answer func(keys []string) (int, any)) string {
	t.Helper()
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(must(os.ReadFile(m.CAFile))(t))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req externaldata.ProviderRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		status, body := answer(req.Request.Keys)
		data, isString := body.(string)
		if !isString {
			data = string(must(json.Marshal(body))(t))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(data))
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{must(tls.LoadX509KeyPair(m.CertDir+"/tls.crt", m.CertDir+"/tls.key"))(t)},
		ClientCAs:    cas, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
