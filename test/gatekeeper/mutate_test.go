package gatekeeper

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestMutationProvider: ratify-mutation-provider, as library/provider.yaml
// defines it, called through Gatekeeper's external data client with
// Gatekeeper's client certificate, pins each image to its digest with an
// answer Gatekeeper's mutation system accepts: no system error, idempotent
// (Gatekeeper refuses a non-idempotent answer), one string value per key.
// An image that cannot be resolved gets an item error, which the Assign's
// failurePolicy Fail turns into a refusal.
func TestMutationProvider(t *testing.T) {
	im, m := newImages(t, nil), newTLSMaterial(t)
	r := startRatify(t, m, im.config(t, 60000))
	provider := loadProvider(t, "ratify-mutation-provider")
	u := must(url.Parse(provider.Spec.URL))(t)
	u.Host = r.Provider
	provider.Spec.URL, provider.Spec.CABundle, provider.Spec.Timeout = u.String(), m.CABundle(t), providerTimeout
	externaldata.DefaultClientCache().Invalidate(provider.Name)
	t.Cleanup(func() { externaldata.DefaultClientCache().Invalidate(provider.Name) })
	cert := must(tls.LoadX509KeyPair(m.ClientCert, m.ClientKey))(t)

	signedDesc := im.reg.PushImage(t, "app", "v1")
	im.sign(t, "app", signedDesc, im.signer)
	signed := im.reg.Host() + "/app:v1"
	unsignedDesc := im.reg.PushImage(t, "unsigned", "v2")
	unsigned := im.reg.Host() + "/unsigned:v2"
	pinned := im.reg.Host() + "/app@" + signedDesc.Digest.String()
	missing := im.reg.Host() + "/app:no-such-tag"

	ctx, cancel := context.WithTimeout(context.Background(), reviewDeadline)
	defer cancel()
	resp, status, err := externaldata.DefaultSendRequestToProvider(ctx, provider, []string{signed, unsigned, pinned, missing}, &cert)
	if err != nil {
		t.Fatalf("mutate: %v", err)
	}
	if status != http.StatusOK || resp.Response.SystemError != "" || !resp.Response.Idempotent {
		t.Fatalf("mutate: status %d, systemError %q, idempotent %v; want 200, none, true", status, resp.Response.SystemError, resp.Response.Idempotent)
	}
	want := map[string]string{
		signed:   pinned,
		unsigned: im.reg.Host() + "/unsigned@" + unsignedDesc.Digest.String(),
		pinned:   pinned,
	}
	seen := map[string]bool{}
	for _, item := range resp.Response.Items {
		seen[item.Key] = true
		switch {
		case item.Key == missing:
			if item.Error == "" || item.Value != nil {
				t.Errorf("%s: value %v, error %q; want an error", missing, item.Value, item.Error)
			}
		case item.Value != want[item.Key] || item.Error != "":
			t.Errorf("%s: value %v, error %q; want %q", item.Key, item.Value, item.Error, want[item.Key])
		}
	}
	if len(resp.Response.Items) != 4 || !seen[signed] || !seen[unsigned] || !seen[pinned] || !seen[missing] {
		t.Errorf("items %+v; want one per key", resp.Response.Items)
	}
}

// TestMutationAssigns checks library/mutation against the Gatekeeper objects
// it relies on: each Assign pins one container field's images through
// ratify-mutation-provider (a Provider of library/provider.yaml) and fails
// closed. Gatekeeper's mutation engine is not linked here (see the package
// documentation), so this checks the objects' fields, not their effect.
func TestMutationAssigns(t *testing.T) {
	loadProvider(t, "ratify-mutation-provider")
	locations := map[string]bool{}
	for _, obj := range loadObjects(t, "mutation/assign-image-digest.yaml") {
		name := obj.GetName()
		if obj.GetAPIVersion() != "mutations.gatekeeper.sh/v1" || obj.GetKind() != "Assign" {
			t.Errorf("%s is a %s %s; want a mutations.gatekeeper.sh/v1 Assign", name, obj.GetAPIVersion(), obj.GetKind())
		}
		location, _, _ := unstructured.NestedString(obj.Object, "spec", "location")
		locations[location] = true
		for field, want := range map[string]string{
			"provider":      "ratify-mutation-provider",
			"dataSource":    "ValueAtLocation",
			"failurePolicy": "Fail",
		} {
			if got, _, _ := unstructured.NestedString(obj.Object, "spec", "parameters", "assign", "externalData", field); got != want {
				t.Errorf("%s: externalData.%s = %q, want %q", name, field, got, want)
			}
		}
		applyTo, _, _ := unstructured.NestedSlice(obj.Object, "spec", "applyTo")
		want := map[string]any{"groups": []any{""}, "kinds": []any{"Pod"}, "versions": []any{"v1"}}
		if len(applyTo) != 1 || !reflect.DeepEqual(applyTo[0], want) {
			t.Errorf("%s: applyTo %v; want [%v]", name, applyTo, want)
		}
	}
	for _, field := range []string{"containers", "initContainers", "ephemeralContainers"} {
		if location := "spec." + field + "[name:*].image"; !locations[location] {
			t.Errorf("no Assign at %s (have %v)", location, locations)
		}
	}
}
