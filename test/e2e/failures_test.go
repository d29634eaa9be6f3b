package e2e

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// wantFailedReport fails the test unless res holds one failed report whose
// errorReason contains reason.
func wantFailedReport(t *testing.T, res result, reason string) {
	t.Helper()
	wantReports(t, res, 1)
	rep := res.VerifierReports[0]
	if rep.IsSuccess || rep.VerifierName != "notation" || !strings.Contains(rep.ErrorReason, reason) {
		t.Errorf("report = %+v; want a failure of verifier notation because %q", rep, reason)
	}
}

func TestVerifyUnsigned(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		root, _ := newSigner(t)
		_, ref := pushImage(t, r, "unsigned")
		res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}}), exitFailed)
		wantReports(t, res, 0)
	})
}

func TestVerifyUntrustedSigner(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, _, _ := signed(t, r, k, "stranger")
		trusted, _ := newSigner(t)
		res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{trusted.Cert}}), exitFailed)
		wantFailedReport(t, res, "signature is not produced by a trusted signer")
	})
}

func TestVerifyOutOfScope(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, root, _ := signed(t, r, k, "app")
		for _, scope := range []string{r.Host() + "/other", "registry.example/app"} {
			t.Run(strings.ReplaceAll(scope, "/", "_"), func(t *testing.T) {
				config := writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}, Scopes: []string{scope}})
				res := verify(t, ref, config, exitFailed)
				wantFailedReport(t, res, "no trust policy applies to "+r.Host()+"/app")
			})
		}
	})
}

func TestVerifyTamperedEnvelope(t *testing.T) {
	tampers := []struct {
		name, mediaType string
		tamper          func(t *testing.T, envelope []byte) []byte
	}{
		// A JWS (JSON serialization) whose signature has one bit flipped.
		{"jws", testpki.MediaTypeJWS, func(t *testing.T, envelope []byte) []byte {
			var jws map[string]any
			if err := json.Unmarshal(envelope, &jws); err != nil {
				t.Fatal(err)
			}
			sig := must(base64.RawURLEncoding.DecodeString(jws["signature"].(string)))(t)
			sig[0] ^= 1
			jws["signature"] = base64.RawURLEncoding.EncodeToString(sig)
			return must(json.Marshal(jws))(t)
		}},
		// A COSE_Sign1 whose last byte, the end of its signature, is flipped.
		{"cose", testpki.MediaTypeCOSE, func(t *testing.T, envelope []byte) []byte {
			envelope[len(envelope)-1] ^= 1
			return envelope
		}},
	}
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		for _, tc := range tampers {
			t.Run(tc.name, func(t *testing.T) {
				root, signer := newSigner(t)
				repo := "tampered-" + tc.name
				subject, ref := pushImage(t, r, repo)
				envelope := must(signer.Sign(context.Background(), subject, testpki.SignOptions{MediaType: tc.mediaType}))(t)
				pushSignature(t, r, repo, subject, tc.mediaType, tc.tamper(t, envelope))
				res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}}), exitFailed)
				wantFailedReport(t, res, "the signature envelope is malformed or has been tampered with")
			})
		}
	})
}

// TestVerifyExpiredCertificate verifies a signature made while its
// certificate was valid, which has since expired, without a timestamp. The
// notation CLI refuses to sign with an expired certificate, so notation-go
// (through testpki) signs it at a past time.
func TestVerifyExpiredCertificate(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		now := time.Now()
		root := must(testpki.NewRootCA(testpki.CertOptions{}))(t)
		signer := must(root.NewCodeSigning(testpki.CertOptions{NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}))(t)
		subject, ref := pushImage(t, r, "expired")
		envelope := must(signer.Sign(context.Background(), subject, testpki.SignOptions{SigningTime: now.Add(-48 * time.Hour).Truncate(time.Second)}))(t)
		pushSignature(t, r, "expired", subject, testpki.MediaTypeJWS, envelope)

		res := verify(t, ref, writeConfig(t, testratify.ConfigOptions{CA: []*x509.Certificate{root.Cert}}), exitFailed)
		wantFailedReport(t, res, "signing certificate expired")
	})
}
