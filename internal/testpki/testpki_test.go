package testpki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	nx509 "github.com/notaryproject/notation-core-go/x509"
	"github.com/notaryproject/tspclient-go"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/ocsp"
)

var target = ocispec.Descriptor{
	MediaType: ocispec.MediaTypeImageManifest,
	Digest:    digest.FromString("an image manifest"),
	Size:      17,
}

func mustRoot(t *testing.T) *Certificate {
	t.Helper()
	root, err := NewRootCA(CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestChainsMeetNotaryProjectRequirements(t *testing.T) {
	root := mustRoot(t)
	for _, kt := range []KeyType{ECDSAP256, ECDSAP384, RSA2048} {
		inter, err := root.NewIntermediateCA(CertOptions{KeyType: kt})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := inter.NewCodeSigning(CertOptions{KeyType: kt})
		if err != nil {
			t.Fatal(err)
		}
		if len(leaf.Chain) != 3 || leaf.Root() != root.Cert {
			t.Fatalf("key type %d: chain of %d, root %v", kt, len(leaf.Chain), leaf.Root().Subject)
		}
		if err := nx509.ValidateCodeSigningCertChain(leaf.Chain, nil); err != nil {
			t.Errorf("key type %d: code-signing chain: %v", kt, err)
		}
	}
	tsa, err := root.NewTimestamping(CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := nx509.ValidateTimestampingCertChain(tsa.Chain); err != nil {
		t.Errorf("timestamping chain: %v", err)
	}
}

func TestWritePEM(t *testing.T) {
	root := mustRoot(t)
	leaf, err := root.NewCodeSigning(CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca", "store", "chain.pem")
	if err := WritePEM(path, leaf.Chain...); err != nil {
		t.Fatal(err)
	}
	got, err := nx509.ReadCertificateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(leaf.Cert) || !got[1].Equal(root.Cert) {
		t.Errorf("read back %d certificates, want the leaf and the root", len(got))
	}
	if err := WritePEM(path); err == nil {
		t.Error("WritePEM with no certificates: no error")
	}
}

func TestSignAndManifest(t *testing.T) {
	root := mustRoot(t)
	leaf, err := root.NewCodeSigning(CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts SignOptions
	}{
		{"JWS now", SignOptions{}},
		{"COSE now", SignOptions{MediaType: MediaTypeCOSE}},
		{"JWS backdated", SignOptions{SigningTime: time.Now().Add(-30 * time.Minute).Truncate(time.Second)}},
		{"COSE backdated with expiry", SignOptions{MediaType: MediaTypeCOSE, SigningTime: time.Now().Add(-30 * time.Minute), Expiry: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := leaf.Sign(context.Background(), target, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			mt := tc.opts.MediaType
			if mt == "" {
				mt = MediaTypeJWS
			}
			parsed, err := signature.ParseEnvelope(mt, env)
			if err != nil {
				t.Fatal(err)
			}
			content, err := parsed.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.opts.SigningTime.IsZero() && !content.SignerInfo.SignedAttributes.SigningTime.Equal(tc.opts.SigningTime.Truncate(time.Second)) {
				t.Errorf("signing time %v, want %v", content.SignerInfo.SignedAttributes.SigningTime, tc.opts.SigningTime)
			}
			sig, err := NewSignature(target, mt, env)
			if err != nil {
				t.Fatal(err)
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(sig.Manifest, &m); err != nil {
				t.Fatal(err)
			}
			if m.ArtifactType != ArtifactTypeNotation || m.Config.MediaType != ocispec.MediaTypeEmptyJSON ||
				len(m.Layers) != 1 || m.Layers[0].MediaType != mt || m.Subject == nil || m.Subject.Digest != target.Digest {
				t.Errorf("manifest = %s", sig.Manifest)
			}
			var thumbprints []string
			if err := json.Unmarshal([]byte(m.Annotations[AnnotationThumbprints]), &thumbprints); err != nil || len(thumbprints) != 2 {
				t.Errorf("thumbprint annotation %q: %v", m.Annotations[AnnotationThumbprints], err)
			}
			for d, b := range sig.Contents() {
				if digest.FromBytes(b) != d {
					t.Errorf("content %s does not match its digest", d)
				}
			}
		})
	}
}

func TestOCSPResponder(t *testing.T) {
	root := mustRoot(t)
	r, err := NewOCSPResponder(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	leaf, err := root.NewCodeSigning(CertOptions{OCSPServer: r.URL})
	if err != nil {
		t.Fatal(err)
	}
	ask := func() int {
		req, err := ocsp.CreateRequest(leaf.Cert, root.Cert, &ocsp.RequestOptions{Hash: crypto.SHA1})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(r.URL, "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		parsed, err := ocsp.ParseResponseForCert(body, leaf.Cert, root.Cert)
		if err != nil {
			t.Fatal(err)
		}
		return parsed.Status
	}
	if got := ask(); got != ocsp.Good {
		t.Errorf("status %d, want good", got)
	}
	r.Revoke(leaf.Cert.SerialNumber)
	if got := ask(); got != ocsp.Revoked {
		t.Errorf("status %d after Revoke, want revoked", got)
	}
	if r.Requests() != 2 {
		t.Errorf("%d requests, want 2", r.Requests())
	}
}

func TestCRLServer(t *testing.T) {
	root := mustRoot(t)
	c, err := NewCRLServer(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	leaf, err := root.NewCodeSigning(CertOptions{CRLDistributionPoint: c.URL})
	if err != nil {
		t.Fatal(err)
	}
	c.Revoke(leaf.Cert.SerialNumber)
	resp, err := http.Get(leaf.Cert.CRLDistributionPoints[0])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, _ := io.ReadAll(resp.Body)
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(root.Cert); err != nil {
		t.Error(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Errorf("revoked entries %+v, want the leaf", crl.RevokedCertificateEntries)
	}
}

func TestTSA(t *testing.T) {
	tsa, err := NewTSA()
	if err != nil {
		t.Fatal(err)
	}
	defer tsa.Close()
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tsa.SetTime(at)
	stamper, err := tspclient.NewHTTPTimestamper(nil, tsa.URL)
	if err != nil {
		t.Fatal(err)
	}
	req, err := tspclient.NewRequest(tspclient.RequestOptions{Content: []byte("a signature"), HashAlgorithm: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stamper.Timestamp(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	token, err := resp.SignedToken()
	if err != nil {
		t.Fatal(err)
	}
	info, err := token.Info()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := info.Validate([]byte("a signature"))
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Value.Equal(at) {
		t.Errorf("timestamp %v, want %v", ts.Value, at)
	}
	// The TSA's certificates are valid at the stamped time only if it is
	// within their validity; use a time they cover.
	chain, err := token.Verify(context.Background(), x509.VerifyOptions{Roots: tsa.RootCAs(), CurrentTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := nx509.ValidateTimestampingCertChain(chain); err != nil {
		t.Error(err)
	}
}
