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
// certificates, and that reconciling it unchanged writes nothing.
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
	wantProps := fmt.Sprintf(`{"certificates":[{"issuer":"CN=Ratify Test Root CA,O=Ratify Test","notAfter":"2036-01-01T00:00:00Z",`+
		`"notBefore":"2026-01-01T00:00:00Z","serialNumber":%q,"sha256":%q,"subject":"CN=Ratify Test Root CA,O=Ratify Test"}]}`,
		cert.SerialNumber.Text(16), hex.EncodeToString(sum[:]))
	st := f.keysStatus(kmp)
	checkKeysStatus(t, st, true, "", "", f.now, wantProps)
	if f.target.calls != 0 {
		t.Errorf("a key management provider changed the engine's overlay (%d calls)", f.target.calls)
	}

	// Unchanged: nothing is written, the fetch time stays.
	fetched := f.now
	f.now = f.now.Add(time.Hour)
	if err := f.reconcile(kmp); err != nil {
		t.Fatal(err)
	}
	checkKeysStatus(t, f.keysStatus(kmp), true, "", "", fetched, wantProps)

	// Broken: the failure and its time replace the properties.
	kmp.Spec.Parameters = raw(t, `{"contentType":"certificate","value":"not PEM"}`)
	f.apply(kmp)
	checkKeysStatus(t, f.keysStatus(kmp), false,
		"spec.parameters.value: 7 bytes that are not PEM blocks: invalid configuration",
		"spec.parameters.value: 7 bytes that are not PEM blocks", f.now, "")
}

// TestInlineKeys checks an inline provider of public keys.
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
	var pemKeys strings.Builder
	var fingerprints []string
	for _, pub := range []any{&ec.PublicKey, edPub} {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pemKeys.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		sum := sha256.Sum256(der)
		fingerprints = append(fingerprints, hex.EncodeToString(sum[:]))
	}
	kmp := inline(t, "team-a", "kmp-keys", "key", pemKeys.String())
	f.apply(kmp)
	want := fmt.Sprintf(`{"keys":[{"sha256":%q,"type":"ECDSA P-256"},{"sha256":%q,"type":"Ed25519"}]}`, fingerprints[0], fingerprints[1])
	checkKeysStatus(t, f.keysStatus(kmp), true, "", "", f.now, want)
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
		{"azurekeyvault", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-akv"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "azurekeyvault", Parameters: raw(t, `{"vaultURI":"https://vault.example/","tenantID":"t"}`)}},
			"spec.type azurekeyvault: azurekeyvault key management providers are not available in this version of ratify (available: inline): unsupported",
			"azurekeyvault key management providers are not available in this version of ratify"},
		{"unknown type", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-vault"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "hashicorp"}},
			`spec.type "hashicorp": unknown key management provider type (supported: inline, azurekeyvault): invalid configuration`,
			`spec.type "hashicorp": unknown key management provider type (supported: inline, azurekeyvault)`},
		{"bad refresh interval", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-interval"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "inline", RefreshInterval: "hourly"}},
			`spec.refreshInterval "hourly": not a duration such as "1h": invalid configuration`,
			`spec.refreshInterval "hourly": not a duration such as "1h"`},
		{"no content type", inline(t, "team-a", "kmp-no-type", "", f.caPEM),
			"spec.parameters.contentType: not set (certificate or key): invalid configuration",
			"spec.parameters.contentType: not set (certificate or key)"},
		{"unknown content type", inline(t, "team-a", "kmp-secret", "secret", f.caPEM),
			`spec.parameters.contentType "secret": not certificate or key: invalid configuration`,
			`spec.parameters.contentType "secret": not certificate or key`},
		{"no value", inline(t, "team-a", "kmp-empty", "certificate", ""),
			"spec.parameters.value: no PEM content given: invalid configuration",
			"spec.parameters.value: no PEM content given"},
		{"a private key", inline(t, "team-a", "kmp-private", "key", privatePEM),
			`spec.parameters.value: PEM block 0 is "PRIVATE KEY", not PUBLIC KEY: invalid configuration`,
			`spec.parameters.value: PEM block 0 is "PRIVATE KEY", not PUBLIC KEY`},
		{"a certificate as a key", inline(t, "team-a", "kmp-cert-as-key", "key", f.caPEM),
			`spec.parameters.value: PEM block 0 is "CERTIFICATE", not PUBLIC KEY: invalid configuration`,
			`spec.parameters.value: PEM block 0 is "CERTIFICATE", not PUBLIC KEY`},
		{"a corrupt certificate", inline(t, "team-a", "kmp-corrupt", "certificate",
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")}))),
			"spec.parameters.value: certificate 0: x509: malformed certificate: invalid configuration",
			"spec.parameters.value: certificate 0: x509: malformed certificate"},
		{"unknown parameter", &v1beta1.NamespacedKeyManagementProvider{ObjectMeta: objMeta("team-a", "kmp-typo"),
			Spec: v1beta1.KeyManagementProviderSpec{Type: "inline", Parameters: raw(t, `{"contentType":"certificate","values":"x"}`)}},
			`spec.parameters: json: unknown field "values" (known: contentType, value): invalid configuration`,
			`spec.parameters: json: unknown field "values" (known: contentType, value)`},
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
