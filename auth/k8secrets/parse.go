package k8secrets

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/errdef"
)

// dockerAuth is one entry of a docker config's "auths".
type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// parseSecret returns the credentials of a dockerconfigjson or dockercfg
// Secret by registry host. Secrets of other types hold none.
func parseSecret(typ string, data map[string][]byte) (map[string]auth.Credential, error) {
	var auths map[string]dockerAuth
	switch typ {
	case TypeDockerConfigJSON:
		var cfg struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		if err := json.Unmarshal(data[".dockerconfigjson"], &cfg); err != nil {
			return nil, fmt.Errorf(".dockerconfigjson: %v: %w", err, errdef.ErrInvalidConfig)
		}
		auths = cfg.Auths
	case TypeDockerConfig:
		if err := json.Unmarshal(data[".dockercfg"], &auths); err != nil {
			return nil, fmt.Errorf(".dockercfg: %v: %w", err, errdef.ErrInvalidConfig)
		}
	default:
		return nil, nil
	}
	out := make(map[string]auth.Credential, len(auths))
	for key, a := range auths {
		c, err := a.credential()
		if err != nil {
			return nil, fmt.Errorf("auths[%q]: %w", key, err)
		}
		for _, host := range hostsOf(key) {
			out[host] = c
		}
	}
	return out, nil
}

func (a dockerAuth) credential() (auth.Credential, error) {
	c := auth.Credential{Username: a.Username, Password: a.Password}
	if a.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return auth.EmptyCredential, fmt.Errorf("auth is not base64: %w", errdef.ErrInvalidConfig)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return auth.EmptyCredential, fmt.Errorf("auth is not user:password: %w", errdef.ErrInvalidConfig)
		}
		c.Username, c.Password = user, pass
	}
	if a.IdentityToken != "" {
		c.RefreshToken = a.IdentityToken
	}
	return c, nil
}

// hostsOf turns a docker config key ("registry.example:5000",
// "https://registry.example/v2/", "https://index.docker.io/v1/") into the
// registry hosts it is for. Docker Hub's key covers the names its registry
// is reached by.
func hostsOf(key string) []string {
	host := strings.ToLower(strings.TrimSpace(key))
	host = strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	switch host {
	case "index.docker.io", "docker.io", "registry-1.docker.io":
		return []string{"docker.io", "index.docker.io", "registry-1.docker.io"}
	case "":
		return nil
	}
	return []string{host}
}
