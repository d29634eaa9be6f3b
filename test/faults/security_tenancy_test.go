package faults

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// notationTrusting is a verifier.plugins entry (a namespaced Verifier
// resource) trusting the CA certificates in dir.
func notationTrusting(t *testing.T, dir string) json.RawMessage {
	t.Helper()
	v := baseConfig()["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)
	v["verificationCerts"] = []string{dir}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// caDir writes a new root CA's certificate into a directory of its own
// and returns the directory.
func caDir(t *testing.T, ca *testpki.Certificate) string {
	t.Helper()
	dir := t.TempDir()
	if err := testpki.WritePEM(filepath.Join(dir, "ca.pem"), ca.Cert); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestVerdictCacheAcrossTenants: namespaces with configurations of their
// own (namespaced Verifier resources) never share verdicts. team-a trusts
// the image's signer and team-b does not: whichever asks first, with
// verdicts cached (passing and failing ones), [team-a] passes and
// [team-b] fails, by digest and by tag; a namespace without a
// configuration of its own gets the cluster's verdict; and when team-b's
// configuration changes, its next answer follows the new one at once,
// however long the old verdict had to live.
func TestVerdictCacheAcrossTenants(t *testing.T) {
	for _, first := range []string{"team-a", "team-b"} {
		t.Run(first+" asks first", func(t *testing.T) {
			noLeaks(t)
			f := newFixture(t, testregistry.Options{Referrers: true})
			other, err := testpki.NewRootCA(testpki.CertOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, baseConfig()), CacheTTL: generous, NegativeCacheTTL: generous})
			overlay := func(teamB string) {
				err := p.srv.SetOverlay(server.Overlay{Namespaces: map[string]config.Parts{
					"team-a": {Verifiers: []json.RawMessage{notationTrusting(t, caDir(t, f.ca))}},
					"team-b": {Verifiers: []json.RawMessage{notationTrusting(t, teamB)}},
				}})
				if err != nil {
					t.Fatal(err)
				}
			}
			overlay(caDir(t, other))
			byDigest, byTag := f.ref("app/signed", f.signed), f.reg.Host()+"/app/signed:v1"
			want := map[string]bool{"team-a": true, "team-b": false}
			order := []string{first, map[string]string{"team-a": "team-b", "team-b": "team-a"}[first]}
			for range 2 { // the second round is answered from the cache
				for _, ns := range order {
					for _, img := range []string{byDigest, byTag} {
						key := "[" + ns + "]" + img
						if got := p.post(t, "verify", key).Items[0].result(t).IsSuccess; got != want[ns] {
							t.Fatalf("%s: isSuccess %v, want %v", key, got, want[ns])
						}
					}
				}
				if !p.post(t, "verify", "[team-c]"+byDigest).Items[0].result(t).IsSuccess {
					t.Fatal("[team-c], without a configuration of its own, did not get the cluster's verdict")
				}
			}
			overlay(caDir(t, f.ca)) // team-b now trusts the signer too
			if !p.post(t, "verify", "[team-b]"+byDigest).Items[0].result(t).IsSuccess {
				t.Fatal("[team-b] was answered with the verdict of its previous configuration")
			}
		})
	}
}

// TestNamespacePrefixFromPodImage: Gatekeeper's tag-to-digest Assign
// (library/mutation) sends the mutation provider each image as the pod
// spells it, without a namespace, so a pod's author chooses the key. A
// pod image "[team-b]registry/app:v1" created in any namespace must not
// be resolved with team-b's configuration (its registry credentials, its
// allow-list): the "[namespace]" prefix is the multi-tenancy template's
// to set, on verification keys.
func TestNamespacePrefixFromPodImage(t *testing.T) {
	noLeaks(t)
	f := newFixture(t, testregistry.Options{Referrers: true, Username: "team-b", Password: "team-b-secret"})
	dockerConfig := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("team-b:team-b-secret"))
	if err := os.WriteFile(dockerConfig, []byte(`{"auths":{"`+f.reg.Host()+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The cluster's store is anonymous (and finds no credential in an empty docker config).
	cfg := baseConfig()
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	storePlugin(cfg)["authProvider"] = map[string]any{"name": "dockerConfig", "configPath": empty}
	p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg)})
	store, _ := json.Marshal(map[string]any{"name": "oras", "useHttp": true, "authProvider": map[string]any{"name": "dockerConfig", "configPath": dockerConfig}})
	if err := p.srv.SetOverlay(server.Overlay{Namespaces: map[string]config.Parts{"team-b": {Stores: []json.RawMessage{store}}}}); err != nil {
		t.Fatal(err)
	}
	tag := f.reg.Host() + "/app/signed:v1"
	// team-b's own pods resolve with team-b's credentials (the verification key form)...
	if a := p.post(t, "verify", "[team-b]"+tag); !a.Items[0].result(t).IsSuccess {
		t.Fatalf("[team-b] with its credentials: %+v", a)
	}
	// ...anyone else's do not: the cluster's store has none.
	if a := p.post(t, "mutate", tag); a.Items[0].Error == "" {
		t.Fatalf("mutate %s with the cluster's (anonymous) store: %+v", tag, a)
	}
	a := p.post(t, "mutate", "[team-b]"+tag)
	if a.Items[0].Error == "" {
		t.Fatalf("mutate [team-b]%s was resolved with team-b's credentials to %s", tag, a.Items[0].Value)
	}
	if !strings.Contains(a.Items[0].Error, "unauthorized") && !strings.Contains(a.Items[0].Error, "invalid reference") {
		t.Errorf("mutate [team-b]%s: %q", tag, a.Items[0].Error)
	}
}
