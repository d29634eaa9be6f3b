package faults

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// metadataKeys name registries where cloud metadata services answer, in
// the forms an image reference can take. Keys of IPv6 literals carry a
// namespace, as the multi-tenancy template sends them: a bare key that
// starts with '[' is read as "[namespace]image" (see
// TestNamespacePrefixFromPodImage).
var metadataKeys = []string{
	"169.254.169.254/latest/meta-data:v1",
	"169.254.169.254:80/latest/api@sha256:" + strings.Repeat("0", 64),
	"[default][fe80::1]:5000/app:v1",
	"[default][::ffff:169.254.169.254]:80/app:v1",
	"[default][fd00:ec2::254]/latest:v1",
	"0.0.0.0:5000/app:v1",
	"[default][ff02::1]:5000/app:v1",
	"[fe80::1]:5000/app:v1", // an IPv6 registry, not a namespace
}

// TestMetadataServiceNeverReached (SSRF): whoever creates a pod chooses
// its image reference. Keys naming link-local, unspecified or multicast
// addresses (169.254.169.254 and its IPv6 forms), a registry that
// redirects a blob there, and a registry whose token realm is there, all
// end in ErrUnauthorized from ratify's dial guard, which refuses the
// address before any connection is made (the error names the refusal);
// with allowedRegistries set, such keys are refused before any request
// at all, not even a DNS lookup.
func TestMetadataServiceNeverReached(t *testing.T) {
	t.Run("keys", func(t *testing.T) {
		noLeaks(t)
		f := newFixture(t, testregistry.Options{Referrers: true})
		p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, baseConfig())})
		// mutate answers a digest key as it is, without a request; its keys
		// carry no namespace (a pod's author wrote any "[namespace]").
		var tagged []string
		for _, k := range metadataKeys {
			if !strings.Contains(k, "@") {
				tagged = append(tagged, strings.TrimPrefix(k, "[default]"))
			}
		}
		for op, keys := range map[string][]string{"verify": metadataKeys, "mutate": tagged} {
			a := p.post(t, op, keys...)
			wantItemErrors(t, a, errdef.ErrUnauthorized)
			for _, it := range a.Items {
				if !strings.Contains(it.Error, "refused") {
					t.Errorf("%s %q: %q does not name the dial guard's refusal", op, it.Key, it.Error)
				}
			}
		}
	})
	t.Run("allow-list", func(t *testing.T) {
		noLeaks(t)
		f := newFixture(t, testregistry.Options{Referrers: true})
		cfg := baseConfig()
		storePlugin(cfg)["allowedRegistries"] = []string{f.reg.Host()}
		p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg)})
		a := p.post(t, "verify", append(metadataKeys, "metadata.google.internal/computemetadata/v1:latest")...)
		wantAllowListRefusals(t, a)
		if r := p.post(t, "verify", f.ref("app/signed", f.signed)).Items[0].result(t); !r.IsSuccess {
			t.Fatalf("the allowed registry: %+v", r)
		}
	})
	// Who refuses: ratify's dial guard (ErrUnauthorized), or, for a token
	// realm, oras-go itself, which since v2.6.1 refuses realms at internal
	// addresses other than the registry's own host before any request (a
	// breach of the protocol: ErrInvalidContent).
	for _, tc := range []struct {
		name    string
		mw      func(f *fixture) func(http.Handler) http.Handler
		want    error
		refusal string
	}{
		{"blob redirected to the metadata service", func(f *fixture) func(http.Handler) http.Handler {
			return onGet("/blobs/"+envelopeOf(f.signature).Digest.String(), func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/security-credentials/", http.StatusTemporaryRedirect)
			})
		}, errdef.ErrUnauthorized, "169.254.169.254:80 refused"},
		{"token realm at the metadata service", func(*fixture) func(http.Handler) http.Handler {
			return func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPut || r.Header.Get("Authorization") != "" || !strings.HasPrefix(r.URL.Path, "/v2/") {
						next.ServeHTTP(w, r)
						return
					}
					w.Header().Set("Www-Authenticate", `Bearer realm="http://169.254.169.254/latest/meta-data/token",service="registry"`)
					w.WriteHeader(http.StatusUnauthorized)
				})
			}
		}, errdef.ErrInvalidContent, `bearer realm host "169.254.169.254" is a loopback, link-local`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sw := &swapHandler{}
			f := newFixture(t, testregistry.Options{Referrers: true, Handler: sw.wrap})
			sw.set(tc.mw(f))
			path := writeConfig(t, f.dir, baseConfig())
			_, err := verify(t, build(t, path, config.BuildOptions{}), f.ref("app/signed", f.signed))
			wantErr(t, "executor", err, tc.want)
			if !strings.Contains(err.Error(), tc.refusal) {
				t.Errorf("the error does not name the refusal %q: %v", tc.refusal, err)
			}
			p := startProvider(t, server.Options{ConfigPath: path})
			wantItemErrors(t, p.post(t, "verify", f.ref("app/signed", f.signed)), tc.want)
		})
	}
}

// TestRevocationURLsOfUntrustedSigners (SSRF through certificates): an
// image author signs with a CA of their own whose certificates name OCSP
// responders and CRL distribution points of their choosing, and the
// cluster's trust policy is at level audit (authenticity is logged, not
// enforced, so notation-go goes on to check revocation). The URLs must
// never be fetched: not the metadata service's (the dial guard covers
// OCSP and CRL requests too), and not a loopback or cluster service's,
// since a chain that no trust anchor vouches for says nothing worth
// checking and its URLs are the author's, not a CA's. The trusted signer's
// own OCSP responder, at level strict, is asked as usual.
func TestRevocationURLsOfUntrustedSigners(t *testing.T) {
	noLeaks(t)
	var hits atomic.Int64
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "an internal service", http.StatusNotFound)
	}))
	t.Cleanup(inside.Close)
	f := newFixture(t, testregistry.Options{Referrers: true})
	author, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{
		"metadata": "http://169.254.169.254/latest/meta-data/",
		"inside":   inside.URL + "/admin/delete?everything=1",
	}
	for name, url := range images {
		img := f.reg.PushImage(t, "author/"+name, "v1")
		f.sign(t, "author/"+name, img, author, testpki.CertOptions{OCSPServer: url, CRLDistributionPoint: url + "crl"})
		images[name] = f.ref("author/"+name, img)
	}
	cfg := baseConfig()
	policy := cfg["verifier"].(map[string]any)["plugins"].([]any)[0].(map[string]any)["trustPolicyDoc"].(map[string]any)["trustPolicies"].([]any)[0].(map[string]any)
	policy["signatureVerification"] = map[string]string{"level": "audit"}
	p := startProvider(t, server.Options{ConfigPath: writeConfig(t, f.dir, cfg)})
	a := p.post(t, "verify", images["metadata"], images["inside"])
	for _, it := range a.Items {
		t.Logf("audit level, untrusted signer, %s: value %s error %q", it.Key, it.Value, it.Error)
	}
	if strings.Contains(p.Logs.String(), "169.254.169.254") && !strings.Contains(p.Logs.String(), "169.254.169.254:80 refused") {
		t.Errorf("the metadata service's URL was used without the dial guard's refusal:\n%s", p.Logs.String())
	}
	if n := hits.Load(); n > 0 {
		t.Fatalf("%d requests reached a loopback URL named by an untrusted signer's certificate (blind SSRF to in-cluster services)", n)
	}
}
