package azurekeyvault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/keys"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/azurekeyvault/kvtest"
)

// newVault starts a local vault and points azidentity's workload identity
// at its Entra endpoint, as Azure workload identity's webhook does with
// environment variables.
func newVault(t *testing.T) *kvtest.Server {
	t.Helper()
	srv := kvtest.New()
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(srv.Assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	t.Setenv("AZURE_AUTHORITY_HOST", srv.Entra.URL)
	return srv
}

func newProvider(t *testing.T, srv *kvtest.Server, cfg azurekeyvault.Config) *azurekeyvault.Provider {
	t.Helper()
	cfg.VaultURI = srv.Vault.URL
	cfg.TenantID, cfg.ClientID = srv.TenantID, srv.ClientID
	p, err := azurekeyvault.New(cfg, azurekeyvault.Options{ClientOptions: policy.ClientOptions{
		Transport: srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// chain makes a self-signed root and a code-signing leaf under it.
func chain(t *testing.T) *testpki.Certificate {
	t.Helper()
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediateCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// pemSecret is a certificate's secret as Key Vault stores it in PEM: the
// private key, then the chain.
func pemSecret(t *testing.T, c *testpki.Certificate) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})) + string(testpki.EncodePEM(c.Chain...))
}

func leaves(t *testing.T, p keys.Provider) []*x509.Certificate {
	t.Helper()
	m, err := p.Material(context.Background())
	if err != nil {
		t.Fatalf("Material: %v", err)
	}
	var out []*x509.Certificate
	for _, c := range m.Certificates {
		out = append(out, c.Chain[0])
	}
	return out
}

func sameCerts(t *testing.T, got []*x509.Certificate, want ...*x509.Certificate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d certificates, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("certificate %d: got %s, want %s", i, got[i].Subject, want[i].Subject)
		}
	}
}

func refresh(t *testing.T, p *azurekeyvault.Provider) {
	t.Helper()
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
}

func TestRotationKeepsMaxVersions(t *testing.T) {
	srv := newVault(t)
	p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer"}}})
	v1, v2, v3 := chain(t), chain(t), chain(t)

	srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, v1))
	sameCerts(t, leaves(t, p), v1.Cert)
	m, _ := p.Material(context.Background())
	if got := len(m.Certificates[0].Chain); got != 3 {
		t.Errorf("chain of %d certificates, want the whole chain of 3", got)
	}

	srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, v2))
	refresh(t, p)
	sameCerts(t, leaves(t, p), v2.Cert, v1.Cert) // the previous version is still trusted

	srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, v3))
	refresh(t, p)
	sameCerts(t, leaves(t, p), v3.Cert, v2.Cert) // the one before is not

	if st := p.Status(); !st.Success || len(st.Properties) != 2 || st.LastFetched.IsZero() {
		t.Errorf("status %+v, want success with 2 items", st)
	}
}

func TestVersionsAreReadOnce(t *testing.T) {
	srv := newVault(t)
	p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer"}}})
	v1 := srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, chain(t)))
	refresh(t, p)
	refresh(t, p)
	if got := srv.Requests("/secrets/signer/" + v1); got != 1 {
		t.Errorf("version read %d times, want once", got)
	}
	if got := srv.Requests("/secrets/signer/versions"); got < 2 {
		t.Errorf("versions listed %d times, want at every refresh", got)
	}
}

func TestPinnedVersionNeverChanges(t *testing.T) {
	srv := newVault(t)
	c1 := chain(t)
	v1 := srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, c1))
	p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer", Version: v1}}})
	refresh(t, p)
	srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, chain(t)))
	refresh(t, p)
	sameCerts(t, leaves(t, p), c1.Cert)
}

func TestDisabledAndExpiredVersionsAreDropped(t *testing.T) {
	srv := newVault(t)
	c1, c2 := chain(t), chain(t)
	v1 := srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, c1))
	v2 := srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, c2))
	p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer"}}})
	refresh(t, p)
	sameCerts(t, leaves(t, p), c2.Cert, c1.Cert)

	srv.SetEnabled("secrets/signer", v2, false)
	refresh(t, p)
	sameCerts(t, leaves(t, p), c1.Cert)
	wantDropped(t, p.Status(), v2, "disabled")

	srv.SetExpires("secrets/signer", v1, time.Now().Add(-time.Minute))
	refresh(t, p)
	sameCerts(t, leaves(t, p))
	wantDropped(t, p.Status(), v1, "expired")

	// A pinned version that is disabled: the vault refuses to read it
	// (403 SecretDisabled); it is reported, not an error.
	pinned := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer", Version: v2}}})
	refresh(t, pinned)
	sameCerts(t, leaves(t, pinned))
	wantDropped(t, pinned.Status(), v2, "disabled")
}

func wantDropped(t *testing.T, st keys.Status, version, reason string) {
	t.Helper()
	for _, p := range st.Properties {
		if p.Version == version {
			if p.Dropped != reason {
				t.Errorf("version %s dropped %q, want %q", version, p.Dropped, reason)
			}
			return
		}
	}
	t.Errorf("version %s not in status %+v", version, st.Properties)
}

func TestVaultDownKeepsLastGood(t *testing.T) {
	srv := newVault(t)
	c1 := chain(t)
	srv.AddSecret("signer", azurekeyvault.ContentTypePEM, pemSecret(t, c1))
	p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer"}}})
	refresh(t, p)
	fetched := p.Status().LastFetched

	srv.SetDown(true)
	err := p.Refresh(context.Background())
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("Refresh with the vault down: %v, want the vault's 503", err)
	}
	sameCerts(t, leaves(t, p), c1.Cert)
	st := p.Status()
	if st.Success || st.Error == "" || st.BriefError == "" || !st.LastFetched.Equal(fetched) {
		t.Errorf("status %+v: want failure with the error, last fetched kept at %v", st, fetched)
	}

	srv.SetDown(false)
	refresh(t, p)
	if st := p.Status(); !st.Success || st.Error != "" {
		t.Errorf("status after recovery %+v", st)
	}
}

func TestNothingFetchedIsAnError(t *testing.T) {
	srv := newVault(t)
	p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "missing"}}})
	_, err := p.Material(context.Background())
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Fatalf("Material of a missing certificate: %v, want the vault's 404", err)
	}
}

func TestPKCS12SecretWithChain(t *testing.T) {
	srv := newVault(t)
	c := chain(t)
	pfx, err := pkcs12.Modern.Encode(c.Key, c.Cert, c.Chain[1:], "")
	if err != nil {
		t.Fatal(err)
	}
	srv.AddSecret("signer", azurekeyvault.ContentTypePKCS12, base64.StdEncoding.EncodeToString(pfx))
	p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer"}}})
	m, err := p.Material(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sameCerts(t, m.Certificates[0].Chain, c.Chain...)
}

func TestBadSecretContent(t *testing.T) {
	for name, tc := range map[string]struct {
		contentType, value string
		want               error
	}{
		"not PEM":           {azurekeyvault.ContentTypePEM, "hello", errdef.ErrInvalidContent},
		"not base64":        {azurekeyvault.ContentTypePKCS12, "%%%", errdef.ErrInvalidContent},
		"not PKCS12":        {azurekeyvault.ContentTypePKCS12, base64.StdEncoding.EncodeToString([]byte("x")), errdef.ErrInvalidContent},
		"other contentType": {"text/plain", "hello", errdef.ErrUnsupported},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newVault(t)
			srv.AddSecret("signer", tc.contentType, tc.value)
			p := newProvider(t, srv, azurekeyvault.Config{Certificates: []azurekeyvault.Item{{Name: "signer"}}})
			if err := p.Refresh(context.Background()); !errors.Is(err, tc.want) {
				t.Errorf("Refresh: %v, want %v", err, tc.want)
			}
		})
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestKeys(t *testing.T) {
	srv := newVault(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddKey("rsa", map[string]any{"kty": "RSA", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())})
	ecPub, _ := ecKey.PublicKey.Bytes() // uncompressed point: 0x04 || X || Y
	srv.AddKey("ec", map[string]any{"kty": "EC-HSM", "crv": "P-384", "x": b64(ecPub[1:49]), "y": b64(ecPub[49:])})
	p := newProvider(t, srv, azurekeyvault.Config{Keys: []azurekeyvault.Item{{Name: "rsa"}, {Name: "ec"}}})
	m, err := p.Material(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Keys) != 2 || !rsaKey.PublicKey.Equal(m.Keys[0].Key) || !ecKey.PublicKey.Equal(m.Keys[1].Key) {
		t.Fatalf("keys %+v do not match the vault's", m.Keys)
	}

	srv.AddKey("bad", map[string]any{"kty": "EC", "crv": "P-256", "x": b64([]byte{1}), "y": b64([]byte{2})})
	bad := newProvider(t, srv, azurekeyvault.Config{Keys: []azurekeyvault.Item{{Name: "bad"}}})
	if err := bad.Refresh(context.Background()); !errors.Is(err, errdef.ErrInvalidContent) {
		t.Errorf("a point off the curve: %v, want ErrInvalidContent", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, cfg := range map[string]azurekeyvault.Config{
		"no vault":       {Certificates: []azurekeyvault.Item{{Name: "a"}}},
		"http vault":     {VaultURI: "http://v.vault.azure.net/", Certificates: []azurekeyvault.Item{{Name: "a"}}},
		"nothing to get": {VaultURI: "https://v.vault.azure.net/"},
		"nameless":       {VaultURI: "https://v.vault.azure.net/", Keys: []azurekeyvault.Item{{}}},
		"bad interval":   {VaultURI: "https://v.vault.azure.net/", Keys: []azurekeyvault.Item{{Name: "a"}}, RefreshInterval: "soon"},
		"negative max":   {VaultURI: "https://v.vault.azure.net/", Keys: []azurekeyvault.Item{{Name: "a"}}, MaxVersions: -1},
	} {
		if err := cfg.Validate(); !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}
