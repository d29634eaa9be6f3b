package k8s

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testregistry"
)

// kmpVerifierParams are the parameters of a notation verifier whose "certs"
// CA store holds the certificates of the key management provider kmp.
func kmpVerifierParams(t *testing.T, kmp string) string {
	return fmt.Sprintf(`{"verificationCertStores":{"ca":{"certs":[%q]}},"trustPolicyDoc":%s}`, kmp, trustPolicy)
}

// verdict asks the provider about key and returns whether it passed and
// the item's error or the first report's message.
func (f *fixture) verdict(t *testing.T, key string) (bool, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
		"request": map[string]any{"keys": []string{key}},
	})
	rec := httptest.NewRecorder()
	f.target.inner.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ratify/gatekeeper/v1/verify", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("verify: HTTP %d: %s", rec.Code, rec.Body)
	}
	var resp struct {
		Response struct {
			Items []struct {
				Error string `json:"error"`
				Value struct {
					IsSuccess       bool `json:"isSuccess"`
					VerifierReports []struct {
						Message string `json:"message"`
					} `json:"verifierReports"`
				} `json:"value"`
			} `json:"items"`
			SystemError string `json:"systemError"`
		} `json:"response"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Response.Items) != 1 {
		t.Fatalf("verify response %s: %v", rec.Body, err)
	}
	item := resp.Response.Items[0]
	msg := item.Error
	if msg == "" && len(item.Value.VerifierReports) > 0 {
		msg = item.Value.VerifierReports[0].Message
	}
	return item.Value.IsSuccess && item.Error == "", msg
}

// TestKeyProviderFeedsVerifier checks that a verifier trusting key
// management providers verifies with their certificates once they exist,
// whatever the order the resources come in, and stops trusting them when
// they are deleted; cluster-wide and in a namespace.
func TestKeyProviderFeedsVerifier(t *testing.T) {
	f := newFixture(t)
	reg := testregistry.New(t, testregistry.Options{})
	ca, err := testpki.NewRootCA(testpki.CertOptions{Subject: pkix.Name{CommonName: "KMP Test Root CA"}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ca.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subject := reg.PushImage(t, "app", "v1")
	reg.Sign(t, "app", subject, signer)
	image := reg.Reference("app", subject.Digest.String()).String()
	caPEM := string(testpki.EncodePEM(ca.Cert))

	// Cluster-wide: the verifier first, its provider later.
	verifier := &v1beta1.Verifier{ObjectMeta: objMeta("", "verifier-kmp"), Spec: v1beta1.VerifierSpec{
		Name: "notation", ArtifactTypes: notationType, Parameters: raw(t, kmpVerifierParams(t, "kmp-signers"))}}
	f.apply(verifier)
	if st := f.status(verifier); !st.IsSuccess {
		t.Fatalf("verifier naming a provider yet to come: status %+v, want accepted", st)
	}
	if ok, msg := f.verdict(t, image); ok || !strings.Contains(msg, `key management provider "kmp-signers" is not declared`) {
		t.Fatalf("before the provider exists: success %v (%q), want a failure naming the missing provider", ok, msg)
	}
	kmp := &v1beta1.KeyManagementProvider{ObjectMeta: objMeta("", "kmp-signers"), Spec: v1beta1.KeyManagementProviderSpec{
		Type: "inline", Parameters: raw(t, fmt.Sprintf(`{"contentType":"certificate","value":%q}`, caPEM))}}
	f.apply(kmp)
	if ok, msg := f.verdict(t, image); !ok {
		t.Fatalf("with the provider: not verified: %s", msg)
	}

	// Another CA's certificate in the provider: the signature no longer verifies.
	other := &v1beta1.KeyManagementProvider{ObjectMeta: objMeta("", "kmp-signers"), Spec: v1beta1.KeyManagementProviderSpec{
		Type: "inline", Parameters: raw(t, fmt.Sprintf(`{"contentType":"certificate","value":%q}`, f.caPEM))}}
	f.apply(other)
	if ok, _ := f.verdict(t, image); ok {
		t.Fatal("verified after the provider's certificate was replaced by another CA's")
	}
	f.apply(kmp)
	if ok, msg := f.verdict(t, image); !ok {
		t.Fatalf("provider restored: not verified: %s", msg)
	}

	// Deleting the provider takes its trust away.
	if err := f.remove(kmp); err != nil {
		t.Fatal(err)
	}
	if ok, msg := f.verdict(t, image); ok || !strings.Contains(msg, "is not declared") {
		t.Fatalf("after the provider was deleted: success %v (%q), want a failure naming the missing provider", ok, msg)
	}

	// In a namespace: a namespaced provider, named namespace/name, serves
	// the namespace's verifier; its keys ("[team-a]image") verify, while
	// cluster-wide keys still lack their provider.
	f.apply(&v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-team"), Spec: v1beta1.KeyManagementProviderSpec{
		Type: "inline", Parameters: raw(t, fmt.Sprintf(`{"contentType":"certificate","value":%q}`, caPEM))}})
	f.apply(&v1beta1.NamespacedVerifier{ObjectMeta: objMeta("team-a", "verifier-team"), Spec: v1beta1.VerifierSpec{
		Name: "notation", ArtifactTypes: notationType, Parameters: raw(t, kmpVerifierParams(t, "team-a/kmp-team"))}})
	if ok, msg := f.verdict(t, "[team-a]"+image); !ok {
		t.Fatalf("namespaced provider: not verified: %s", msg)
	}
	if ok, _ := f.verdict(t, image); ok {
		t.Fatal("a namespaced provider served a cluster-wide verification")
	}
	// Another namespace cannot name team-a's provider as its own.
	f.apply(&v1beta1.NamespacedVerifier{ObjectMeta: objMeta("team-b", "verifier-team"), Spec: v1beta1.VerifierSpec{
		Name: "notation", ArtifactTypes: notationType, Parameters: raw(t, kmpVerifierParams(t, "kmp-team"))}})
	if ok, _ := f.verdict(t, "[team-b]"+image); ok {
		t.Fatal("team-b verified with a provider of team-a named without its namespace")
	}
}
