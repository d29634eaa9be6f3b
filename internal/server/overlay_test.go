package server

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
)

// notationPart is a verifier.plugins entry trusting the certificates in dir.
func notationPart(t *testing.T, dir string) json.RawMessage {
	t.Helper()
	v := baseConfig()["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)
	v["verificationCerts"] = []string{dir}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOverlayScopesNamespaces(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.Handler()
	other, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := testpki.WritePEM(otherDir+"/ca.pem", other.Cert); err != nil {
		t.Fatal(err)
	}
	// Warm the cluster's cache first: a namespace's own configuration must
	// not be answered from it.
	post(t, h, verifyPath, requestBody(f.signed), nil)
	err = f.srv.SetOverlay(Overlay{Namespaces: map[string]config.Parts{
		"team-b": {Verifiers: []json.RawMessage{notationPart(t, otherDir)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, resp := post(t, h, verifyPath, requestBody(f.signed, "[team-a]"+f.signed, "[team-b]"+f.signed), nil)
	for i, want := range []bool{true, true, false} {
		if got := decodeResult(t, resp.Response.Items[i].Value).IsSuccess; got != want {
			t.Errorf("%s: isSuccess = %v, want %v", resp.Response.Items[i].Key, got, want)
		}
	}

	// A broken overlay is refused and the running engine keeps serving.
	gen := f.srv.engine.current.Load().id
	err = f.srv.SetOverlay(Overlay{Cluster: config.Parts{Policy: json.RawMessage(`{"name":"configPolicy","artifactVerificationPolicies":{"x":"most"}}`)}})
	if !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("broken overlay: %v", err)
	}
	if f.srv.engine.current.Load().id != gen {
		t.Fatal("a broken overlay replaced the running engine")
	}
	_, resp = post(t, h, verifyPath, requestBody("[team-b]"+f.signed), nil)
	if decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
		t.Error("after a refused overlay, team-b lost its own configuration")
	}
}

// TestBrokenTenantDoesNotBlockClusterChanges: a namespace whose
// configuration stops building (its certificates were removed) keeps its
// last good engine, and a cluster-wide change still applies.
func TestBrokenTenantDoesNotBlockClusterChanges(t *testing.T) {
	f := newFixture(t, setup{})
	h := f.srv.Handler()
	tenantDir := t.TempDir()
	if err := testpki.WritePEM(tenantDir+"/ca.pem", f.ca.Cert); err != nil {
		t.Fatal(err)
	}
	tenant := config.Parts{Verifiers: []json.RawMessage{notationPart(t, tenantDir)}}
	if err := f.srv.SetOverlay(Overlay{Namespaces: map[string]config.Parts{"team-b": tenant}}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(tenantDir); err != nil {
		t.Fatal(err)
	}
	// The cluster now requires an SBOM as well: signed images fail there.
	policy := json.RawMessage(`{"name":"configPolicy","artifactVerificationPolicies":{"application/vnd.cncf.notary.signature":"any","application/spdx+json":"any"}}`)
	err := f.srv.SetOverlay(Overlay{Cluster: config.Parts{Policy: policy}, Namespaces: map[string]config.Parts{"team-b": tenant}})
	if err != nil {
		t.Fatalf("a cluster change was refused because of team-b: %v", err)
	}
	_, resp := post(t, h, verifyPath, requestBody(f.signed, "[team-b]"+f.signed), nil)
	if decodeResult(t, resp.Response.Items[0].Value).IsSuccess {
		t.Error("the cluster's new policy was not applied")
	}
	if !decodeResult(t, resp.Response.Items[1].Value).IsSuccess {
		t.Error("team-b lost its last good configuration")
	}
	if !strings.Contains(f.logs.String(), "namespace configuration no longer builds") {
		t.Error("the broken namespace was not reported")
	}
	// A new, bad configuration for team-b is still refused.
	bad := config.Parts{Verifiers: []json.RawMessage{notationPart(t, t.TempDir())}}
	if err := f.srv.SetOverlay(Overlay{Namespaces: map[string]config.Parts{"team-b": bad}}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("a bad team-b change: %v", err)
	}
}
