package gatekeeper

import (
	"encoding/json"
	"testing"
)

// TestMultiTenancyTemplate: library/multi-tenancy/template.yaml sends ratify
// one "[namespace]image" key per image and decides as the default template
// does, naming images without the namespace. The namespace is the Pod's
// metadata.namespace or, when the Pod has none, the admission request's. A
// recording proxy between Gatekeeper and ratify (terminating and
// re-originating mutual TLS) shows the keys and answers on the wire.
func TestMultiTenancyTemplate(t *testing.T) {
	im, m := newImages(t, nil), newTLSMaterial(t)
	r := startRatify(t, m, im.config(t, 60000))
	proxy := newRecordingProxy(t, m, r.Provider)
	gk := newGatekeeper(t, gatekeeperOptions{
		Template: "multi-tenancy/template.yaml", ProviderAddr: proxy.Addr, CABundle: m.CABundle(t),
		ClientCert: m.ClientCert, ClientKey: m.ClientKey,
	})
	signed, unsigned := im.signed(t, "app"), im.unsigned(t, "unsigned")

	got := gk.review(t, createRequest(t, "team-a", pod{Containers: []string{signed}, InitContainers: []string{signed}}))
	wantDenials(t, got)
	ex := wantKeys(t, proxy.take(), "[team-a]"+signed)
	wantResults(t, ex, map[string]bool{"[team-a]" + signed: true})

	got = gk.review(t, createRequest(t, "team-b", pod{Containers: []string{signed}, EphemeralContainers: []string{unsigned}}))
	wantDenials(t, got, "[ratify-constraint] Subject failed verification: "+unsigned)
	ex = wantKeys(t, proxy.take(), "[team-b]"+signed, "[team-b]"+unsigned)
	wantResults(t, ex, map[string]bool{"[team-b]" + signed: true, "[team-b]" + unsigned: false})

	// A Pod created without metadata.namespace (kubectl apply -n team-c):
	// the namespace comes from the admission request.
	req := createRequest(t, "team-c", pod{Containers: []string{unsigned}})
	var obj map[string]any
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj["metadata"].(map[string]any), "namespace")
	req.Object.Raw = must(json.Marshal(obj))(t)
	wantDenials(t, gk.review(t, req), "[ratify-constraint] Subject failed verification: "+unsigned)
	wantKeys(t, proxy.take(), "[team-c]"+unsigned)
}
