package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testpki"
)

// TestConfigReload changes config.json under a running server: a new
// configuration is used at once (no result made under the old one is
// served), and a broken file leaves the last good one serving.
func TestConfigReload(t *testing.T) {
	f := newFixture(t, setup{server: Options{ReloadInterval: 20 * time.Millisecond, CacheTTL: time.Hour}})
	addr := f.run(t)
	verify := func() bool {
		t.Helper()
		resp, err := http.Post("http://"+addr+verifyPath, "application/json", strings.NewReader(string(requestBody(f.signed))))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d decodedResponse
		if err := decodeJSON(resp.Body, &d); err != nil || len(d.Response.Items) != 1 {
			t.Fatalf("response: %v %+v", err, d)
		}
		return decodeResult(t, d.Response.Items[0].Value).IsSuccess
	}
	if !verify() {
		t.Fatal("signed image failed under the first configuration")
	}
	gen := f.srv.engine.current.Load().id

	// Trust another CA only: the cached pass must not be served.
	other, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(f.dir + "/certs"); err != nil {
		t.Fatal(err)
	}
	if err := testpki.WritePEM(f.dir+"/other/ca.pem", other.Cert); err != nil {
		t.Fatal(err)
	}
	f.writeConfig(t, func(cfg map[string]any) {
		cfg["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)["verificationCerts"] = []string{"other"}
	})
	waitFor(t, func() bool { return f.srv.engine.current.Load().id > gen })
	if verify() {
		t.Fatal("a result made under the old configuration was served after the reload")
	}
	gen = f.srv.engine.current.Load().id

	// A broken file is reported and the last good configuration serves on.
	if err := os.WriteFile(f.config, []byte(`{"store": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(f.logs.String(), "last good configuration keeps serving") })
	if f.srv.engine.current.Load().id != gen {
		t.Fatal("a broken config.json replaced the running configuration")
	}
	if verify() {
		t.Fatal("after a broken config.json the server no longer applies the last good one")
	}
}
