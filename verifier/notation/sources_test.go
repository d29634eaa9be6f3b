package notation

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	azpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/keys/azurekeyvault"
	"github.com/openratify/ratify/keys/azurekeyvault/kvtest"
)

// vaultSource serves a key vault provider's certificates.
type vaultSource struct{ p *azurekeyvault.Provider }

func (s vaultSource) Certificates(ctx context.Context) ([]*x509.Certificate, error) {
	m, err := s.p.Material(ctx)
	return m.X509(), err
}

// TestRotationInVault rotates a signing certificate, each version under
// its own root, in a local Key Vault: signatures by the previous version
// keep verifying while it is within maxVersions (2), and stop when it
// leaves the window.
func TestRotationInVault(t *testing.T) {
	srv := kvtest.New()
	t.Cleanup(srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(srv.Assertion), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
	t.Setenv("AZURE_AUTHORITY_HOST", srv.Entra.URL)
	p, err := azurekeyvault.New(azurekeyvault.Config{
		VaultURI: srv.Vault.URL, TenantID: srv.TenantID, ClientID: srv.ClientID,
		Certificates: []azurekeyvault.Item{{Name: "signer"}},
	}, azurekeyvault.Options{ClientOptions: azpolicy.ClientOptions{Transport: srv.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, policy(), nil, Options{TrustStore: SourceTrustStore{
		truststore.TypeCA: {"certs": {vaultSource{p}}},
	}})

	var sigs []*testpki.Signature
	for i := range 3 {
		root, _ := newRoot(t)
		leaf := newLeaf(t, root, testpki.CertOptions{})
		srv.AddSecret("signer", azurekeyvault.ContentTypePEM, string(testpki.EncodePEM(leaf.Chain...)))
		if err := p.Refresh(context.Background()); err != nil {
			t.Fatalf("version %d: Refresh: %v", i+1, err)
		}
		sigs = append(sigs, sign(t, leaf, image, testpki.SignOptions{}))
	}
	checkReport(t, verify(t, v, subjectIn("demo"), sigs[2]), true, "", "")
	checkReport(t, verify(t, v, subjectIn("demo"), sigs[1]), true, "", "")
	if r := verify(t, v, subjectIn("demo"), sigs[0]); r.IsSuccess {
		t.Errorf("a signature by a version out of the window verified: %+v", r)
	}
}
