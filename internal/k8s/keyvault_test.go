package k8s

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/internal/server"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/azurekeyvault/kvtest"
)

// clock is a settable clock shared by the test and the provider.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestKeyVaultRotationThroughResources runs the reference deployment's
// trust path on a running provider: an azurekeyvault KeyManagementProvider
// (a local vault reached through workload identity) named by a Verifier.
// As the signing certificate rotates, images signed by the newest two
// versions verify (maxVersions) and the one before does not; when the vault
// goes down the last good certificates keep serving and the provider's
// status says why.
func TestKeyVaultRotationThroughResources(t *testing.T) {
	vault := kvtest.New()
	t.Cleanup(vault.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(vault.Assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	t.Setenv("AZURE_AUTHORITY_HOST", vault.Entra.URL)

	f := newFixture(t)
	clk := &clock{now: time.Now()}
	srv, err := server.New(server.Options{
		ConfigPath: filepath.Join(f.dir, "config.json"), Logger: discard(),
		CacheTTL: -1, // every verification asks the engine: this test watches trust change
		KeyVault: azurekeyvault.Options{
			ClientOptions: policy.ClientOptions{Transport: vault.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
			Now:           clk.Now,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.target.inner = srv

	reg := testregistry.New(t, testregistry.Options{})
	signed := make([]string, 3) // signed[i]: an image signed by version i+1
	signers := make([]*testpki.Certificate, 3)
	for i := range signers {
		root, err := testpki.NewRootCA(testpki.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if signers[i], err = root.NewCodeSigning(testpki.CertOptions{}); err != nil {
			t.Fatal(err)
		}
		repo := "app" + string(rune('1'+i))
		subject := reg.PushImage(t, repo, "v1")
		reg.Sign(t, repo, subject, signers[i])
		signed[i] = reg.Reference(repo, subject.Digest.String()).String()
	}
	rotate := func(i int) {
		vault.AddSecret("signer", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(signers[i].Chain...)))
		clk.advance(2 * time.Hour) // past the refresh interval
	}
	want := func(step string, verified ...bool) {
		t.Helper()
		for i, w := range verified {
			if ok, msg := f.verdict(t, signed[i]); ok != w {
				t.Errorf("%s: image signed by version %d: verified %v (%s), want %v", step, i+1, ok, msg, w)
			}
		}
	}

	rotate(0)
	kmp := &v1beta1.KeyManagementProvider{ObjectMeta: objMeta("", "kmprovider-akv"), Spec: v1beta1.KeyManagementProviderSpec{
		Type: "azurekeyvault", RefreshInterval: "1h", Parameters: raw(t, `{"vaultURI":"`+vault.Vault.URL+`","tenantID":"`+vault.TenantID+
			`","clientID":"`+vault.ClientID+`","certificates":[{"name":"signer"}]}`)}}
	f.apply(kmp)
	if st := f.keysStatus(kmp); !st.IsSuccess || !strings.Contains(string(st.Properties.Raw), `"name":"signer"`) {
		t.Fatalf("status after the first fetch: %+v %s", st, st.Properties.Raw)
	}
	f.apply(&v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-notation"), Spec: v1beta1.VerifierSpec{
		Name: "notation", ArtifactTypes: notationType, Parameters: raw(t, kmpVerifierParams(t, "kmprovider-akv"))}})
	want("version 1 in the vault", true, false, false)

	rotate(1)
	want("rotated to version 2", true, true, false)

	rotate(2)
	want("rotated to version 3", false, true, true)

	// The vault goes down: the last good certificates keep serving, and
	// the provider's status, read again, reports the failure.
	vault.SetDown(true)
	clk.advance(2 * time.Hour)
	want("vault down", false, true, true)
	if _, ok := f.target.inner.KeyProviderStatus(context.Background(), "kmprovider-akv"); !ok {
		t.Fatal("the provider left the pool")
	}
	if err := f.reconcile(kmp); err != nil {
		t.Fatal(err)
	}
	if st := f.keysStatus(kmp); st.IsSuccess || !strings.Contains(st.Error, "503") {
		t.Errorf("status with the vault down: issuccess %v, error %q; want the vault's failure", st.IsSuccess, st.Error)
	}
}
