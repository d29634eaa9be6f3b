package faults

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testregistry"
)

// recorder is a server that asks every client for basic credentials and
// records the Authorization headers it is sent.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		if a := req.Header.Get("Authorization"); a != "" {
			r.auth = append(r.auth, req.Method+" "+req.URL.Path+": "+a)
		}
		r.mu.Unlock()
		w.Header().Set("Www-Authenticate", `Basic realm="registry B"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}

// TestCredentialsStayWithTheirRegistry: the docker config holds a
// credential for registry A only. Registry B, on another port of the same
// address and asking for basic credentials, receives none: not when an
// image in B is verified, not when A redirects a blob to B (by address or
// by another name), and A's credential still works for A.
func TestCredentialsStayWithTheirRegistry(t *testing.T) {
	const user, password = "team-a", "registry-a-password"
	for _, tc := range []struct {
		name     string
		redirect func(b *recorder) string // where A redirects its blobs; "" for none
	}{
		{"an image in B", nil},
		{"A redirects a blob to B's address", func(b *recorder) string { return b.URL }},
		{"A redirects a blob to B by another name", func(b *recorder) string {
			return strings.Replace(b.URL, "127.0.0.1", "localhost", 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			b := newRecorder(t)
			sw := &swapHandler{}
			f := newFixture(t, testregistry.Options{Referrers: true, Username: user, Password: password, Handler: sw.wrap})
			docker := filepath.Join(f.dir, "docker.json")
			auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
			if err := os.WriteFile(docker, []byte(`{"auths":{"`+f.reg.Host()+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := baseConfig()
			storePlugin(cfg)["authProvider"] = map[string]any{"name": "dockerConfig", "configPath": "docker.json"}
			path := writeConfig(t, f.dir, cfg)
			e := build(t, path, config.BuildOptions{})
			if res, err := verify(t, e, f.ref("app/signed", f.signed)); err != nil || !res.IsSuccess {
				t.Fatalf("registry A with its credential: %+v, %v", res, err)
			}
			ref := strings.TrimPrefix(b.URL, "http://") + "/app/signed@" + f.signed.Digest.String()
			if tc.redirect != nil {
				target := tc.redirect(b)
				sw.set(onGet("/blobs/"+envelopeOf(f.signature).Digest.String(), func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, target+r.URL.Path, http.StatusTemporaryRedirect)
				}))
				ref = f.ref("app/signed", f.signed)
			}
			_, err := verify(t, build(t, path, config.BuildOptions{}), ref)
			if err == nil {
				t.Fatal("verification succeeded without B's content")
			}
			if tc.redirect == nil {
				wantErr(t, "B", err, errdef.ErrUnauthorized)
			}
			p := startProvider(t, server.Options{ConfigPath: path})
			if a := p.post(t, "verify", ref); a.Items[0].Error == "" && a.Items[0].result(t).IsSuccess {
				t.Fatalf("provider: %+v", a)
			}
			if got := b.received(); len(got) > 0 {
				t.Errorf("B received credentials: %q", got)
			}
		})
	}
}
