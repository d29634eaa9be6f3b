package registry

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
)

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDockerCredential reads credentials from docker config files, inline
// and through a credential helper, against a registry behind basic auth.
func TestDockerCredential(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true, Username: "alice", Password: "s3cret"})
	r.PushImage(t, "app", "v1")
	host := r.Host()
	basic := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	}

	// A credential helper is a program docker-credential-<name> on PATH that
	// answers "get" with the credentials of the server URL on its stdin.
	bin := t.TempDir()
	writeFile(t, bin, "docker-credential-ratifytest", "#!/bin/sh\nread url\n"+
		`printf '{"ServerURL":"%s","Username":"alice","Secret":"s3cret"}' "$url"`+"\n", 0o755)
	writeFile(t, bin, "docker-credential-broken", "#!/bin/sh\necho 'helper exploded' >&2\nexit 1\n", 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	for _, tc := range []struct {
		name    string
		config  string // "" means no file at all
		want    error
		wantNew error
	}{
		{name: "auths entry", config: `{"auths":{"` + host + `":{"auth":"` + basic("alice", "s3cret") + `"}}}`},
		{name: "credHelpers", config: `{"credHelpers":{"` + host + `":"ratifytest"}}`},
		{name: "credsStore", config: `{"credsStore":"ratifytest"}`},
		{name: "wrong password", config: `{"auths":{"` + host + `":{"auth":"` + basic("alice", "nope") + `"}}}`, want: errdef.ErrUnauthorized},
		{name: "other registry only", config: `{"auths":{"elsewhere.example":{"auth":"` + basic("alice", "s3cret") + `"}}}`, want: errdef.ErrUnauthorized},
		{name: "no config file", want: errdef.ErrUnauthorized},
		{name: "failing helper", config: `{"credHelpers":{"` + host + `":"broken"}}`, want: errdef.ErrInvalidConfig},
		{name: "malformed config", config: `{"auths":`, wantNew: errdef.ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			if tc.config != "" {
				writeFile(t, filepath.Dir(path), "config.json", tc.config, 0o600)
			}
			cred, err := DockerCredential(path)
			wantErr(t, err, tc.wantNew)
			if tc.wantNew != nil {
				return
			}
			s := newStore(t, Options{Credential: cred})
			_, err = s.Resolve(context.Background(), r.Reference("app", "v1"))
			wantErr(t, err, tc.want)
			if tc.want != nil && !strings.Contains(err.Error(), host) {
				t.Errorf("error %q does not name the registry", err)
			}
		})
	}

	t.Run("DOCKER_CONFIG", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "config.json", `{"auths":{"`+host+`":{"auth":"`+basic("alice", "s3cret")+`"}}}`, 0o600)
		t.Setenv("DOCKER_CONFIG", dir)
		cred, err := DockerCredential("")
		wantErr(t, err, nil)
		r.Reset()
		_, err = newStore(t, Options{Credential: cred}).Resolve(context.Background(), r.Reference("app", "v1"))
		wantErr(t, err, nil)
		// One challenge, then the authenticated request.
		if n := r.Total(); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
}
