package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/internal/ocimem"
	"github.com/openratify/ratify/internal/testpki"
)

func newDemoCommand() *cobra.Command {
	var keep, showJSON bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Verify a signed and an unsigned image in a throwaway registry (no network, no setup)",
		Long: `demo starts an in-process OCI registry on 127.0.0.1, creates a throwaway CA
and signing certificate, pushes three images (one signed by that CA, one
unsigned, one signed by a stranger's key), writes a config.json trusting only
the CA, and verifies each image through the same code as "ratify verify".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), keep, showJSON)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's config.json and CA certificate on disk")
	cmd.Flags().BoolVar(&showJSON, "json", false, "also print each verification result as JSON")
	return cmd
}

// demoImage is one image the demo pushes.
type demoImage struct {
	repo    string
	signer  *testpki.Certificate // nil: unsigned
	explain string
}

func runDemo(ctx context.Context, w io.Writer, keep, showJSON bool) error {
	host, stop, err := startDemoRegistry()
	if err != nil {
		return err
	}
	defer stop()

	ca, err := testpki.NewRootCA(testpki.CertOptions{Subject: pkix.Name{CommonName: "ratify demo CA"}})
	if err != nil {
		return err
	}
	signer, err := ca.NewCodeSigning(testpki.CertOptions{Subject: pkix.Name{CommonName: "ratify demo signer"}})
	if err != nil {
		return err
	}
	strangerCA, err := testpki.NewRootCA(testpki.CertOptions{Subject: pkix.Name{CommonName: "someone else's CA"}})
	if err != nil {
		return err
	}
	stranger, err := strangerCA.NewCodeSigning(testpki.CertOptions{Subject: pkix.Name{CommonName: "a stranger"}})
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "ratify-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	configPath, err := writeDemoConfig(dir, ca)
	if err != nil {
		return err
	}

	images := []demoImage{
		{repo: "demo/signed", signer: signer, explain: "signed by a certificate of the trusted demo CA"},
		{repo: "demo/unsigned", explain: "nothing attached"},
		{repo: "demo/stranger", signer: stranger, explain: "signed, but by a certificate the config does not trust"},
	}
	for i, img := range images {
		if err := pushDemoImage(ctx, host, img, i); err != nil {
			return fmt.Errorf("demo: push %s: %w", img.repo, err)
		}
	}

	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	exec, err := config.Build(cfg, config.BuildOptions{Timeout: defaultCLITimeout})
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "ratify demo\n")
	fmt.Fprintf(w, "  registry  %s (in-process, gone when the demo ends)\n", host)
	fmt.Fprintf(w, "  trust     only the throwaway CA %q, through %s\n\n", "ratify demo CA", configPath)
	for _, img := range images {
		ref := host + "/" + img.repo + ":v1"
		result, err := exec.Verify(ctx, ref, ratify.VerifyOptions{})
		if err != nil {
			return fmt.Errorf("demo: verify %s: %w", ref, err)
		}
		verdict := "DENY "
		if result.IsSuccess {
			verdict = "ADMIT"
		}
		fmt.Fprintf(w, "  %s  %s  (%s)\n", verdict, ref, img.explain)
		for _, line := range explain(result, cfg) {
			fmt.Fprintf(w, "         %s\n", line)
		}
		if showJSON {
			out, _ := json.MarshalIndent(result, "         ", "  ")
			fmt.Fprintf(w, "         %s\n", out)
		}
	}
	fmt.Fprintf(w, `
A Gatekeeper constraint backed by ratify admits the first pod and refuses the others.

Next:
  ratify verify -s IMAGE -c config.json   verify your own image (exit 0 passed, 1 failed, 2 could not verify)
  ratify discover -s IMAGE                see what is attached to an image
`)
	if !showJSON || !keep {
		fmt.Fprintf(w, "  ratify demo --json --keep               the full results, and the demo's config.json to start from\n")
	}
	fmt.Fprintf(w, "  README.md                               the config.json format and every command\n")
	if keep {
		fmt.Fprintf(w, "\nKept: %s\n", dir)
	}
	return nil
}

// explain says in a line or two why a result is what it is.
func explain(result ratify.Result, cfg *config.Config) []string {
	var lines []string
	for _, r := range result.VerifierReports {
		line := fmt.Sprintf("%s: %s", r.VerifierName, r.Message)
		if !r.IsSuccess && r.ErrorReason != "" {
			line = fmt.Sprintf("%s: verification failed: %s", r.VerifierName, r.ErrorReason)
		}
		if issuer, ok := r.Extensions["Issuer"]; ok && r.IsSuccess {
			line += fmt.Sprintf(" (signer %v, issued by %v)", r.Extensions["SN"], issuer)
		}
		lines = append(lines, line)
	}
	if len(result.VerifierReports) == 0 {
		lines = append(lines, nothingAttached(cfg, nil))
	}
	return lines
}

// nothingAttached says why a subject with no reports failed: no artifact
// of the types asked for (all, if none) that a verifier checks.
func nothingAttached(cfg *config.Config, asked []string) string {
	if len(asked) > 0 {
		return "no artifact of type " + strings.Join(asked, ", ") + " that a configured verifier checks is attached"
	}
	var required []string
	for t := range cfg.Policy.Plugin.ArtifactVerificationPolicies {
		if t != "default" {
			required = append(required, t)
		}
	}
	slices.Sort(required)
	if len(required) == 0 {
		return "no artifact that a configured verifier checks is attached; the policy requires at least one"
	}
	return "no artifact that a configured verifier checks is attached; the policy requires " + strings.Join(required, ", ")
}

// startDemoRegistry serves an in-memory registry on a free loopback port.
func startDemoRegistry() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: ocimem.New(ocimem.Options{}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func writeDemoConfig(dir string, ca *testpki.Certificate) (string, error) {
	if err := testpki.WritePEM(filepath.Join(dir, "certs", "demo-ca.pem"), ca.Cert); err != nil {
		return "", err
	}
	cfg := map[string]any{
		"store": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{"name": "oras", "useHttp": true}}},
		"policy": map[string]any{"version": "1.0.0", "plugin": map[string]any{
			"name":                         "configPolicy",
			"artifactVerificationPolicies": map[string]string{config.NotationArtifactType: "any"},
		}},
		"verifier": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{
			"name":              "notation",
			"artifactTypes":     config.NotationArtifactType,
			"verificationCerts": []string{"certs"},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name":                  "demo",
				"registryScopes":        []string{"*"},
				"signatureVerification": map[string]string{"level": "strict"},
				"trustStores":           []string{"ca:demo"},
				"trustedIdentities":     []string{"*"},
			}}},
		}}},
		"crl": map[string]any{"cache": map[string]bool{"enabled": false}},
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, config.FileName)
	return path, os.WriteFile(path, data, 0o600)
}

// pushDemoImage pushes a one-layer image tagged v1 and, if the image has a
// signer, a Notary Project signature attached to it as a referrer.
func pushDemoImage(ctx context.Context, host string, img demoImage, n int) error {
	repo, err := remote.NewRepository(host + "/" + img.repo)
	if err != nil {
		return err
	}
	repo.PlainHTTP = true
	layer := []byte(fmt.Sprintf("ratify demo image %d\n", n))
	cfgBlob := []byte(`{"architecture":"amd64","os":"linux"}`)
	layerDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, layer)
	cfgDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfgBlob)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	subject := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, manifest)
	if err := pushBlobs(ctx, repo, blob{layerDesc, layer}, blob{cfgDesc, cfgBlob}); err != nil {
		return err
	}
	if err := repo.PushReference(ctx, subject, bytes.NewReader(manifest), "v1"); err != nil {
		return err
	}
	if img.signer == nil {
		return nil
	}
	envelope, err := img.signer.Sign(ctx, subject, testpki.SignOptions{MediaType: testpki.MediaTypeJWS})
	if err != nil {
		return err
	}
	sig, err := testpki.NewSignature(subject, testpki.MediaTypeJWS, envelope)
	if err != nil {
		return err
	}
	empty := ocispec.DescriptorEmptyJSON
	empty.Data = nil
	if err := pushBlobs(ctx, repo, blob{sig.EnvelopeDescriptor, sig.Envelope}, blob{empty, ocispec.DescriptorEmptyJSON.Data}); err != nil {
		return err
	}
	return repo.Push(ctx, sig.ManifestDescriptor, bytes.NewReader(sig.Manifest))
}

// blob is content to push with its descriptor.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

func pushBlobs(ctx context.Context, repo *remote.Repository, blobs ...blob) error {
	for _, b := range blobs {
		if err := repo.Blobs().Push(ctx, b.desc, bytes.NewReader(b.data)); err != nil {
			return err
		}
	}
	return nil
}
