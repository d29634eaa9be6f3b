//go:build fuzzseeds

package notation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openratify/ratify/internal/testpki"
)

// TestWriteFuzzSeeds rewrites the seed corpora of this package's fuzz
// targets in testdata/fuzz from real signatures: JWS and COSE envelopes
// made by notation-go for the tests' image, with chains of two and three
// certificates, RSA and ECDSA keys, an expiry, a backdated signing time and
// an RFC 3161 timestamp (from testpki's loopback TSA), and the signature
// manifests that attach them. The certificates are new on each run, so
// the committed envelopes verify against no trust store the targets build:
// they reach every step of verification but the last. Run it with
// `go test -tags fuzzseeds -run TestWriteFuzzSeeds` after changing the envelope handling.
func TestWriteFuzzSeeds(t *testing.T) {
	ctx := context.Background()
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediateCA(testpki.CertOptions{KeyType: testpki.ECDSAP384})
	if err != nil {
		t.Fatal(err)
	}
	ecLeaf := newLeaf(t, inter, testpki.CertOptions{})
	rsaLeaf := newLeaf(t, root, testpki.CertOptions{KeyType: testpki.RSA2048})
	tsa, err := testpki.NewTSA()
	if err != nil {
		t.Fatal(err)
	}
	defer tsa.Close()

	for _, s := range []struct {
		name string
		leaf *testpki.Certificate
		opts testpki.SignOptions
	}{
		{"jws-ecdsa-intermediate", ecLeaf, testpki.SignOptions{MediaType: testpki.MediaTypeJWS}},
		{"cose-ecdsa-intermediate", ecLeaf, testpki.SignOptions{MediaType: testpki.MediaTypeCOSE}},
		{"jws-rsa-expiry", rsaLeaf, testpki.SignOptions{MediaType: testpki.MediaTypeJWS, Expiry: 24 * time.Hour}},
		{"cose-rsa-backdated", rsaLeaf, testpki.SignOptions{MediaType: testpki.MediaTypeCOSE, SigningTime: time.Now().Add(-time.Hour)}},
		{"jws-timestamped", ecLeaf, testpki.SignOptions{MediaType: testpki.MediaTypeJWS, TSAURL: tsa.URL, TSARoots: tsa.RootCAs()}},
		{"cose-timestamped", rsaLeaf, testpki.SignOptions{MediaType: testpki.MediaTypeCOSE, TSAURL: tsa.URL, TSARoots: tsa.RootCAs()}},
	} {
		env, err := s.leaf.Sign(ctx, image, s.opts)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		writeSeed(t, "FuzzVerifyEnvelope", s.name, env, s.opts.MediaType == testpki.MediaTypeCOSE)
		if strings.Contains(s.name, "timestamped") || strings.Contains(s.name, "backdated") {
			continue // the manifests of the others show both envelope types
		}
		sig, err := testpki.NewSignature(image, s.opts.MediaType, env)
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, "FuzzEnvelopeDescriptor", s.name+"-manifest", sig.Manifest)
	}
}

// writeSeed writes one file of target's seed corpus,
// testdata/fuzz/<target>/<name>, in the "go test fuzz v1" format.
func writeSeed(t *testing.T, target, name string, values ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		default:
			t.Fatalf("seed value of type %T", v)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
