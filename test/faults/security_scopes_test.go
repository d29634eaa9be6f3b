package faults

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// TestScopePatternsAnchored: every pattern that names registries or
// repositories matches whole names. A "*" that is not a whole label or
// segment is refused when config.json is read (allowedRegistries, Azure
// endpoints, cosign scopes, multiPlatform scopes, Notary Project registry
// scopes); and through the provider, "registry.io" never admits
// "registry.io.evil.com", "*.registry.io" never "a.b.registry.io", a
// repository scope never a sibling or a child repository.
func TestScopePatternsAnchored(t *testing.T) {
	t.Run("patterns refused", func(t *testing.T) {
		cosign := map[string]any{"name": "cosign", "trustPolicies": []any{map[string]any{"name": "p", "scopes": []string{"registry.io*"},
			"keys": []any{map[string]string{"file": "cosign.pub"}}}}}
		for name, mod := range map[string]func(cfg map[string]any){
			"allowedRegistries registry.io*":   func(cfg map[string]any) { storePlugin(cfg)["allowedRegistries"] = []string{"registry.io*"} },
			"allowedRegistries *registry.io":   func(cfg map[string]any) { storePlugin(cfg)["allowedRegistries"] = []string{"*registry.io"} },
			"allowedRegistries *.*.io":         func(cfg map[string]any) { storePlugin(cfg)["allowedRegistries"] = []string{"*.*.io"} },
			"allowedRegistries a URL":          func(cfg map[string]any) { storePlugin(cfg)["allowedRegistries"] = []string{"https://registry.io/"} },
			"Azure endpoints registry.io*":     func(cfg map[string]any) { azureEndpoints(cfg, "registry.io*") },
			"Azure endpoints *azurecr.io":      func(cfg map[string]any) { azureEndpoints(cfg, "*azurecr.io") },
			"cosign scope registry.io*":        func(cfg map[string]any) { cfg["verifier"] = map[string]any{"plugins": []any{cosign}} },
			"multiPlatform scope registry.io*": func(cfg map[string]any) { multiPlatform(cfg, "registry.io*") },
			"multiPlatform scope a/*/b":        func(cfg map[string]any) { multiPlatform(cfg, "registry.io/a/*/b") },
			"notation registryScopes registry.io*": func(cfg map[string]any) {
				p := cfg["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)["trustPolicyDoc"].(map[string]any)["trustPolicies"].([]any)[0].(map[string]any)
				p["registryScopes"] = []string{"registry.io*"}
			},
		} {
			cfg := baseConfig()
			mod(cfg)
			data, _ := json.Marshal(cfg)
			_, err := config.Parse(data)
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
			}
		}
	})

	t.Run("allowedRegistries", func(t *testing.T) {
		noLeaks(t)
		f := newFixture(t, testregistry.Options{Referrers: true})
		cfg := baseConfig()
		storePlugin(cfg)["allowedRegistries"] = []string{"registry.io", "*.registry.io", f.reg.Host()}
		p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg)})
		_, port, _ := strings.Cut(f.reg.Host(), ":")
		keys := []string{"registry.io.evil.com/app:v1", "evilregistry.io/app:v1", "a.b.registry.io/app:v1", "registry.io:5000/app:v1",
			"registry.io.:443/app:v1", "127.0.0.1:" + port + "0/app:v1", "localhost:" + port + "/app:v1"}
		// Refused before any request: no DNS lookup, no connection, whatever the name.
		a := p.post(t, "verify", keys...)
		wantAllowListRefusals(t, a)
		if r := p.post(t, "verify", f.ref("app/signed", f.signed)).Items[0].result(t); !r.IsSuccess {
			t.Fatalf("the allowed registry: %+v", r)
		}
	})

	t.Run("notation registryScopes", func(t *testing.T) {
		noLeaks(t)
		f := newFixture(t, testregistry.Options{Referrers: true})
		cfg := baseConfig()
		p := cfg["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)["trustPolicyDoc"].(map[string]any)["trustPolicies"].([]any)[0].(map[string]any)
		p["registryScopes"] = []string{f.reg.Host() + "/app/signed"}
		prov := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg)})
		keys := []string{f.ref("app/signed", f.signed)}
		for _, repo := range []string{"app/signed-evil", "app/signed/sub", "app/signe"} {
			img := f.reg.PushImage(t, repo, "v1")
			f.sign(t, repo, img, f.ca, testpki.CertOptions{})
			keys = append(keys, f.ref(repo, img))
		}
		for i, it := range prov.post(t, "verify", keys...).Items {
			if got := it.result(t).IsSuccess; got != (i == 0) {
				t.Errorf("%s: pass %v under a trust policy scoped to %s/app/signed", it.Key, got, f.reg.Host())
			}
		}
	})

	t.Run("multiPlatform scopes", func(t *testing.T) {
		noLeaks(t)
		f := newFixture(t, testregistry.Options{Referrers: true})
		cfg := baseConfig()
		multiPlatform(cfg, f.reg.Host()+"/team/*")
		prov := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg)})
		// An unsigned index of signed platform manifests passes only
		// where the scope says platforms decide; elsewhere the index's
		// own (absent) signatures do.
		var keys []string
		for _, repo := range []string{"team/app", "team-evil/app", "team"} {
			keys = append(keys, f.ref(repo, signedPlatforms(t, f, repo)))
		}
		for i, it := range prov.post(t, "verify", keys...).Items {
			if got := it.result(t).IsSuccess; got != (i == 0) {
				t.Errorf("%s: pass %v with multiPlatform scope %s/team/*", it.Key, got, f.reg.Host())
			}
		}
	})
}

// signedPlatforms pushes an unsigned image index of two signed platform
// manifests to repo and returns the index's descriptor.
func signedPlatforms(t *testing.T, f *fixture, repo string) ocispec.Descriptor {
	t.Helper()
	var manifests []ocispec.Descriptor
	for _, arch := range []string{"amd64", "arm64"} {
		m := f.reg.PushImage(t, repo, arch)
		f.sign(t, repo, m, f.ca, testpki.CertOptions{})
		m.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		manifests = append(manifests, m)
	}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests})
	return f.reg.PushManifest(t, repo, "multi", ocispec.MediaTypeImageIndex, idx)
}

func azureEndpoints(cfg map[string]any, pattern string) {
	storePlugin(cfg)["authProvider"] = map[string]any{"name": "azureWorkloadIdentity", "endpoints": []string{pattern}}
}

func multiPlatform(cfg map[string]any, scope string) {
	cfg["policy"].(map[string]any)["plugin"].(map[string]any)["multiPlatform"] = map[string]string{scope: "platforms"}
}
