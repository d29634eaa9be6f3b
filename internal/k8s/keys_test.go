package k8s

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/keys"
)

func inline(t *testing.T, ns, name, contentType, value string) *v1beta1.NamespacedKeyManagementProvider {
	params, err := json.Marshal(map[string]string{"contentType": contentType, "value": value})
	if err != nil {
		t.Fatal(err)
	}
	return &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta(ns, name), Spec: v1beta1.KeyManagementProviderSpec{
		Type: "inline", Parameters: raw(t, string(params))}}
}

// TestInlineCertificates checks the status of an inline provider of
// certificates, that reconciling it unchanged writes nothing, and that a
// broken update keeps the previous version in the engine.
func TestInlineCertificates(t *testing.T) {
	f := newFixture(t)
	kmp := &v1beta1.KeyManagementProvider{ObjectMeta: objMeta("", "kmp-inline"), Spec: v1beta1.KeyManagementProviderSpec{
		Type: "inline", RefreshInterval: "1h", Parameters: raw(t, fmt.Sprintf(`{"contentType":"certificate","value":%q}`, f.caPEM))}}
	f.apply(kmp)

	block, _ := pem.Decode([]byte(f.caPEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	st := f.keysStatus(kmp)
	if !st.IsSuccess || st.Error != "" || st.LastFetchedTime == nil {
		t.Fatalf("status = %+v, want success with a fetch time", st)
	}
	var props struct {
		Certificates []keys.Properties `json:"certificates"`
		Keys         []keys.Properties `json:"keys"`
	}
	if err := json.Unmarshal(st.Properties.Raw, &props); err != nil {
		t.Fatalf("properties %s: %v", st.Properties.Raw, err)
	}
	if len(props.Certificates) != 1 || len(props.Keys) != 0 {
		t.Fatalf("properties = %s, want one certificate", st.Properties.Raw)
	}
	got := props.Certificates[0]
	if got.Name != "kmp-inline" || got.Kind != keys.KindCertificate || !got.Enabled ||
		got.Subject != "CN=Ratify Test Root CA,O=Ratify Test" || got.SHA256 != hex.EncodeToString(sum[:]) ||
		!got.Expires.Equal(time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)) || got.KeyType != "ECDSA P-256" {
		t.Errorf("certificate properties = %+v", got)
	}
	if !strings.Contains(f.target.last(t), `"KeyProviders":[{"name":"kmp-inline","type":"inline"`) {
		t.Errorf("installed overlay lacks the provider: %s", f.target.last(t))
	}

	// Unchanged: nothing is written, the fetch time stays.
	fetched := *st.LastFetchedTime
	calls := f.target.calls
	if err := f.reconcile(kmp); err != nil {
		t.Fatal(err)
	}
	if st := f.keysStatus(kmp); !st.LastFetchedTime.Equal(&fetched) || f.target.calls != calls {
		t.Errorf("an unchanged provider was written again: lastfetchedtime %v (was %v), %d overlay calls (was %d)",
			st.LastFetchedTime, fetched, f.target.calls, calls)
	}

	// Broken: the failure and its time replace the properties; the
	// previous version stays in the engine.
	kmp.Spec.Parameters = raw(t, `{"contentType":"certificate","value":"not PEM"}`)
	f.apply(kmp)
	checkKeysStatus(t, f.keysStatus(kmp), false,
		"keyManagementProviders[0].parameters.value: no PEM certificate or public key found: invalid content: invalid configuration"+keptNote,
		"parameters.value: no PEM certificate or public key found: invalid content", f.now, "")
	if !strings.Contains(f.target.last(t), `"KeyProviders":[{"name":"kmp-inline","type":"inline"`) {
		t.Errorf("the refused update removed the provider: %s", f.target.last(t))
	}
}

// TestInlineKeys checks an inline provider of a public key, namespaced:
// it is named namespace/name.
func TestInlineKeys(t *testing.T) {
	f := newFixture(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, keyType string
		pub           any
	}{{"kmp-ec", "ECDSA P-256", &ec.PublicKey}, {"kmp-ed", "Ed25519", edPub}} {
		der, err := x509.MarshalPKIXPublicKey(tc.pub)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(der)
		kmp := inline(t, "team-a", tc.name, "key", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
		f.apply(kmp)
		st := f.keysStatus(kmp)
		var props struct{ Keys []keys.Properties }
		if err := json.Unmarshal(st.Properties.Raw, &props); err != nil || !st.IsSuccess {
			t.Fatalf("%s: status %+v, properties %s: %v", tc.name, st, st.Properties.Raw, err)
		}
		if len(props.Keys) != 1 || props.Keys[0].KeyType != tc.keyType || props.Keys[0].SHA256 != hex.EncodeToString(sum[:]) ||
			props.Keys[0].Name != "team-a/"+tc.name {
			t.Errorf("%s: properties = %s", tc.name, st.Properties.Raw)
		}
	}
	if want := `"team-a":{"Stores":null,"Verifiers":null,"Policy":null,"KeyProviders":[{"name":"team-a/kmp-ec"`; !strings.Contains(f.target.last(t), want) {
		t.Errorf("overlay = %s, want namespaced providers named namespace/name", f.target.last(t))
	}
}

// TestKeyProviderErrors checks the status of providers that are refused.
func TestKeyProviderErrors(t *testing.T) {
	f := newFixture(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	privatePEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	tests := []struct {
		name       string
		kmp        *v1beta1.NamespacedKeyManagementProvider
		err, brief string
	}{
		{"azurekeyvault without items", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-akv"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "azurekeyvault", Parameters: raw(t, `{"vaultURI":"https://vault.example/","tenantID":"t"}`)}},
			"keyManagementProviders[0].parameters.certificates, keys: nothing to read from the vault: invalid configuration",
			"parameters.certificates, keys: nothing to read from the vault"},
		{"unknown type", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-vault"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "hashicorp"}},
			`spec.type "hashicorp": unknown key management provider type (supported: inline, azurekeyvault): invalid configuration`,
			`spec.type "hashicorp": unknown key management provider type (supported: inline, azurekeyvault)`},
		{"no type", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-untyped")},
			"spec.type: not set (inline or azurekeyvault): invalid configuration",
			"spec.type: not set (inline or azurekeyvault)"},
		{"bad refresh interval", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-interval"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "inline", RefreshInterval: "hourly"}},
			`spec.refreshInterval "hourly": not a positive duration such as "1h": invalid configuration`,
			`spec.refreshInterval "hourly": not a positive duration such as "1h"`},
		{"no content type", inline(t, "team-a", "kmp-no-type", "", f.caPEM),
			`keyManagementProviders[0].parameters.contentType: "" is not "certificate" or "key": invalid configuration`,
			`parameters.contentType: "" is not "certificate" or "key"`},
		{"unknown content type", inline(t, "team-a", "kmp-secret", "secret", f.caPEM),
			`keyManagementProviders[0].parameters.contentType: "secret" is not "certificate" or "key": invalid configuration`,
			`parameters.contentType: "secret" is not "certificate" or "key"`},
		{"no value", inline(t, "team-a", "kmp-empty", "certificate", ""),
			"keyManagementProviders[0].parameters.value: empty: invalid configuration",
			"parameters.value: empty"},
		{"a private key", inline(t, "team-a", "kmp-private", "key", privatePEM),
			"keyManagementProviders[0].parameters.value: no PEM certificate or public key found: invalid content: invalid configuration",
			"parameters.value: no PEM certificate or public key found: invalid content"},
		{"a certificate as a key", inline(t, "team-a", "kmp-cert-as-key", "key", f.caPEM),
			"keyManagementProviders[0].parameters.value: contentType key needs exactly one PEM public key: invalid configuration",
			"parameters.value: contentType key needs exactly one PEM public key"},
		{"a corrupt certificate", inline(t, "team-a", "kmp-corrupt", "certificate",
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")}))),
			"keyManagementProviders[0].parameters.value: certificate 1: x509: malformed certificate: invalid content: invalid configuration",
			"parameters.value: certificate 1: x509: malformed certificate: invalid content"},
		{"unknown parameter", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-typo"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "inline", Parameters: raw(t, `{"contentType":"certificate","values":"x"}`)}},
			"keyManagementProviders[0].parameters.values: unknown field (known: contentType, value): invalid configuration",
			"parameters.values: unknown field (known: contentType, value)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.apply(tt.kmp)
			checkKeysStatus(t, f.keysStatus(tt.kmp), false, tt.err, tt.brief, f.now, "")
		})
	}
}

func checkKeysStatus(t *testing.T, st v1beta1.KeyManagementProviderStatus, ok bool, errMsg, brief string, fetched time.Time, props string) {
	t.Helper()
	if st.IsSuccess != ok || st.Error != errMsg || st.BriefError != brief {
		t.Errorf("status = {issuccess %v, error %q, brieferror %q}, want {%v, %q, %q}", st.IsSuccess, st.Error, st.BriefError, ok, errMsg, brief)
	}
	if want := metav1.NewTime(fetched); st.LastFetchedTime == nil || !st.LastFetchedTime.Equal(&want) {
		t.Errorf("lastfetchedtime = %v, want %v", st.LastFetchedTime, fetched)
	}
	if !jsonEqual(st.Properties.Raw, []byte(props)) {
		t.Errorf("properties =\n%s\nwant\n%s", st.Properties.Raw, props)
	}
}
