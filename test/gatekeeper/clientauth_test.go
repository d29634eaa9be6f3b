package gatekeeper

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
)

// TestClientCertificateRequired: ratify, given --ca-cert-file, refuses a
// Gatekeeper that presents no client certificate or one its CA did not
// issue; the review then fails closed: a Pod of signed images is denied
// with a system error about the TLS handshake. With the right certificate
// the same Pod is admitted by the same ratify.
func TestClientCertificateRequired(t *testing.T) {
	im, m := newImages(t, nil), newTLSMaterial(t)
	r := startRatify(t, m, im.config(t, 60000))
	signed := im.signed(t, "app")
	req := createRequest(t, "default", pod{Containers: []string{signed}})
	stranger := newTLSMaterial(t) // another CA, and a client certificate it issued

	for _, tc := range []struct {
		name                  string
		clientCert, clientKey string
		// alert, when set, is the TLS alert ratify must refuse with; the
		// Pod is then denied.
		alert string
	}{
		{name: "issued by the client CA", clientCert: m.ClientCert, clientKey: m.ClientKey},
		// TLS 1.3's certificate_required alert (RFC 8446, section 6.2).
		{name: "no client certificate", alert: "remote error: tls: certificate required"},
		{name: "issued by another CA", clientCert: stranger.ClientCert, clientKey: stranger.ClientKey, alert: "remote error: tls: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One engine at a time: newGatekeeper drops the connections
			// Gatekeeper's shared HTTP client kept from the previous one.
			gk := newGatekeeper(t, gatekeeperOptions{
				Template: defaultTemplate, ProviderAddr: r.Provider, CABundle: m.CABundle(t),
				ClientCert: tc.clientCert, ClientKey: tc.clientKey,
			})
			got := gk.review(t, req)
			if tc.alert == "" {
				wantDenials(t, got)
				return
			}
			prefix := "[ratify-constraint] System error calling external data provider: failed to send external data request: "
			if len(got) != 1 || !strings.HasPrefix(got[0], prefix) || !strings.Contains(got[0], tc.alert) {
				t.Errorf("denials %q; want one, %q... saying %q", got, prefix, tc.alert)
			}
		})
	}
}

// TestCertificateRotation: when the certificates are rotated on disk (as
// Gatekeeper's cert-controller or Ratify's chart rotate the secrets ratify
// mounts), the running ratify serves the new certificate and trusts the new
// client CA on the next connection: Gatekeeper with the new caBundle and
// client certificate is admitted, Gatekeeper still trusting the old CA is
// refused (fail closed), and ratify was not restarted.
func TestCertificateRotation(t *testing.T) {
	im, m := newImages(t, nil), newTLSMaterial(t)
	r := startRatify(t, m, im.config(t, 60000))
	req := createRequest(t, "default", pod{Containers: []string{im.signed(t, "app")}})
	old := gatekeeperOptions{Template: defaultTemplate, ProviderAddr: r.Provider, CABundle: m.CABundle(t),
		ClientCert: m.ClientCert, ClientKey: m.ClientKey}
	wantDenials(t, newGatekeeper(t, old).review(t, req))

	rotated := newTLSMaterial(t) // a new CA, server and client certificates
	replaceFile(t, rotated.CertDir+"/tls.key", m.CertDir+"/tls.key")
	replaceFile(t, rotated.CertDir+"/tls.crt", m.CertDir+"/tls.crt")
	replaceFile(t, rotated.CAFile, m.CAFile)

	got := newGatekeeper(t, old).review(t, req)
	prefix := "[ratify-constraint] System error calling external data provider: failed to send external data request: "
	if len(got) != 1 || !strings.HasPrefix(got[0], prefix) || !strings.Contains(got[0], "x509: ") {
		t.Errorf("with the old CA: denials %q; want one, %q... about the certificate", got, prefix)
	}
	wantDenials(t, newGatekeeper(t, gatekeeperOptions{Template: defaultTemplate, ProviderAddr: r.Provider,
		CABundle: rotated.CABundle(t), ClientCert: rotated.ClientCert, ClientKey: rotated.ClientKey}).review(t, req))
}

// TestTLS13Only: ratify refuses TLS 1.2 even from a client with a valid
// certificate (DESIGN.md: TLS 1.3 minimum).
func TestTLS13Only(t *testing.T) {
	im, m := newImages(t, nil), newTLSMaterial(t)
	r := startRatify(t, m, im.config(t, 60000))
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(must(os.ReadFile(m.CAFile))(t))
	cert := must(tls.LoadX509KeyPair(m.ClientCert, m.ClientKey))(t)
	for _, tc := range []struct {
		version uint16
		wantErr bool
	}{{tls.VersionTLS13, false}, {tls.VersionTLS12, true}} {
		conn, err := tls.Dial("tcp", r.Provider, &tls.Config{RootCAs: cas, Certificates: []tls.Certificate{cert},
			MinVersion: tc.version, MaxVersion: tc.version})
		if err == nil {
			err = conn.Handshake()
			conn.Close()
		}
		if (err != nil) != tc.wantErr || (tc.wantErr && !strings.Contains(err.Error(), "protocol version")) {
			t.Errorf("%s: %v; want refused: %v", tls.VersionName(tc.version), err, tc.wantErr)
		}
	}
}

// replaceFile replaces dst with a copy of src in one rename, as a
// Kubernetes secret volume swaps its files.
func replaceFile(t *testing.T, src, dst string) {
	t.Helper()
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, must(os.ReadFile(src))(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}
