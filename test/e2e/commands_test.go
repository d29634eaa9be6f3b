package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// sbomType is the artifact type of the SBOMs the tests attach: one that no
// configured verifier handles.
const sbomType = "application/spdx+json"

// attachedGraph pushes an image to repo with a JWS signature, a COSE
// signature and an SBOM that has a signature of its own, all made by the
// notation CLI, and returns the image's descriptor and digest reference.
func attachedGraph(t *testing.T, r *testregistry.Registry, k registryKind, repo string) (ocispec.Descriptor, string) {
	t.Helper()
	_, signer := newSigner(t)
	n := newNotation(t)
	n.AddKey("e2e", signer)
	subject, ref := pushImage(t, r, repo)
	n.Sign("e2e", ref, storeFlags(k)...)
	n.Sign("e2e", ref, append(storeFlags(k), "--signature-format", "cose")...)
	sbom, _ := r.PushArtifact(t, repo, testregistry.Artifact{
		ArtifactType: sbomType, Subject: &subject,
		LayerMediaType: sbomType, Layer: []byte(`{"spdxVersion":"SPDX-2.3"}`),
	})
	n.Sign("e2e", r.Host()+"/"+repo+"@"+sbom.Digest.String(), storeFlags(k)...)
	return subject, ref
}

// wantTree returns the lines `ratify discover` should print under the
// subject for the referrers r lists, recursively, in the registry's order.
func wantTree(t *testing.T, r *testregistry.Registry, k registryKind, repo string, subject digest.Digest, indent string) []string {
	t.Helper()
	var lines []string
	refs := listReferrers(t, r, k, repo, subject)
	for i, d := range refs {
		branch, next := "├── ", "│   "
		if i == len(refs)-1 {
			branch, next = "└── ", "    "
		}
		lines = append(lines, fmt.Sprintf("%s%s[%s] %s", indent, branch, d.ArtifactType, d.Digest))
		lines = append(lines, wantTree(t, r, k, repo, d.Digest, indent+next)...)
	}
	return lines
}

func TestDiscover(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		subject, ref := attachedGraph(t, r, k, "app")
		tag := r.Host() + "/app:v1"
		tree := append([]string{ref}, wantTree(t, r, k, "app", subject.Digest, "")...)
		if len(tree) != 5 {
			t.Fatalf("the registry lists %d artifacts, want 4:\n%s", len(tree)-1, strings.Join(tree, "\n"))
		}

		o := ratify(t, "discover", "-s", tag, "--plain-http")
		wantExit(t, o, 0)
		if want := strings.Join(tree, "\n") + "\n"; o.stdout != want {
			t.Errorf("discover printed\n%s\nwant\n%s", o.stdout, want)
		}

		o = ratify(t, "discover", "-s", tag, "--plain-http", "--flat")
		wantExit(t, o, 0)
		var flat, wantFlat []string
		for _, line := range tree[1:] {
			fields := strings.Fields(strings.TrimLeft(line, "│├└─ "))
			wantFlat = append(wantFlat, fields[1]+"\t"+strings.Trim(fields[0], "[]"))
		}
		flat = strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
		if !slices.Equal(flat, wantFlat) {
			t.Errorf("discover --flat printed %q, want %q", flat, wantFlat)
		}

		o = ratify(t, "discover", "-s", tag, "--plain-http", "-o", "json")
		wantExit(t, o, 0)
		var doc struct {
			Subject   string `json:"subject"`
			Digest    string `json:"digest"`
			Referrers []struct {
				Digest       string `json:"digest"`
				ArtifactType string `json:"artifactType"`
				Referrers    []struct {
					Digest string `json:"digest"`
				} `json:"referrers"`
			} `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(o.stdout), &doc); err != nil {
			t.Fatalf("discover -o json: %v: %s", err, o)
		}
		if doc.Subject != ref || doc.Digest != subject.Digest.String() || len(doc.Referrers) != 3 {
			t.Fatalf("discover -o json = %s", o.stdout)
		}
		for _, n := range doc.Referrers {
			if wantChildren := map[bool]int{true: 1, false: 0}[n.ArtifactType == sbomType]; len(n.Referrers) != wantChildren {
				t.Errorf("%s (%s) has %d referrers, want %d", n.Digest, n.ArtifactType, len(n.Referrers), wantChildren)
			}
		}
	})
}

func TestResolve(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	subject, ref := pushImage(t, r, "app")

	o := ratify(t, "resolve", "-s", r.Host()+"/app:v1", "--plain-http")
	wantExit(t, o, 0)
	if o.stdout != ref+"\n" {
		t.Errorf("resolve printed %q, want %q", o.stdout, ref+"\n")
	}

	// The store section of a config file found through RATIFY_CONFIG (a
	// directory) says to use plain HTTP.
	config := writeConfig(t, testratify.ConfigOptions{})
	env := append(testratify.Env(t), "RATIFY_CONFIG="+filepath.Dir(config))
	o = run(t, env, ratifyBin, "resolve", "-s", r.Host()+"/app:v1", "-o", "json")
	wantExit(t, o, 0)
	var desc ocispec.Descriptor
	if err := json.Unmarshal([]byte(o.stdout), &desc); err != nil {
		t.Fatalf("resolve -o json: %v: %s", err, o)
	}
	if desc.Digest != subject.Digest || desc.Size != subject.Size || desc.MediaType != subject.MediaType {
		t.Errorf("resolve -o json = %+v, want %+v", desc, subject)
	}
}

func TestReferrerShow(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, r *testregistry.Registry, k registryKind) {
		ref, _, _ := signed(t, r, k, "app")
		sig := signatureManifests(t, r, k, "app", digestOf(ref))[0]
		status, manifest := registryGet(t, r, "/v2/app/manifests/"+sig.String(), ocispec.MediaTypeImageManifest)
		if status != http.StatusOK {
			t.Fatalf("GET the signature manifest: %d", status)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(manifest, &m); err != nil || len(m.Layers) != 1 {
			t.Fatalf("signature manifest %s: %v", manifest, err)
		}
		status, envelope := registryGet(t, r, "/v2/app/blobs/"+m.Layers[0].Digest.String(), "")
		if status != http.StatusOK {
			t.Fatalf("GET the envelope: %d", status)
		}

		o := ratify(t, "referrer", "show-manifest", "-s", ref, "-d", sig.String(), "--plain-http")
		wantExit(t, o, 0)
		if o.stdout != string(manifest) {
			t.Errorf("show-manifest printed %q, want the registry's %q", o.stdout, manifest)
		}
		o = ratify(t, "referrer", "show-blob", "-s", ref, "-d", m.Layers[0].Digest.String(), "--plain-http")
		wantExit(t, o, 0)
		if o.stdout != string(envelope) {
			t.Errorf("show-blob printed %d bytes, want the registry's %d", len(o.stdout), len(envelope))
		}
	})
}

func TestVersion(t *testing.T) {
	o := ratify(t, "version")
	wantExit(t, o, 0)
	if !strings.HasPrefix(o.stdout, "ratify ") || !strings.Contains(o.stdout, runtime.Version()) {
		t.Errorf("version printed %q", o.stdout)
	}
}

func TestDemo(t *testing.T) {
	o := ratify(t, "demo")
	wantExit(t, o, 0)
	verdicts := map[string]int{}
	for _, line := range strings.Split(o.stdout, "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "ADMIT" || f[0] == "DENY") {
			verdicts[f[0]]++
		}
	}
	if verdicts["ADMIT"] != 1 || verdicts["DENY"] != 2 {
		t.Errorf("demo gave %v, want one ADMIT and two DENY:\n%s", verdicts, o.stdout)
	}
}

// TestServeWithoutKubernetesSupport: the command line build (no k8s build
// tag) refuses the CRD manager with a reason and exit 2, and refuses
// certificate rotation without it, before listening anywhere.
func TestServeWithoutKubernetesSupport(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(minimalConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	o := ratify(t, "serve", "--http", "127.0.0.1:0", "-c", cfg, "--enable-crd-manager")
	wantExit(t, o, 2)
	if !strings.Contains(o.stderr, "built without the Kubernetes controllers") || !strings.Contains(o.stderr, "-tags k8s") {
		t.Errorf("stderr %q does not say how to get the CRD manager", o.stderr)
	}
	o = run(t, append(testratify.Env(t), "RATIFY_CERT_ROTATION=1"), ratifyBin, "serve", "--http", "127.0.0.1:0", "-c", cfg, "--cert-dir", t.TempDir())
	wantExit(t, o, 2)
	if !strings.Contains(o.stderr, "RATIFY_CERT_ROTATION needs --enable-crd-manager") {
		t.Errorf("stderr %q", o.stderr)
	}
}

// minimalConfig is a valid config.json trusting nothing in particular.
const minimalConfig = `{
  "store": {"plugins": [{"name": "oras", "useHttp": true}]},
  "policy": {"plugin": {"name": "configPolicy", "artifactVerificationPolicies": {"application/vnd.cncf.notary.signature": "any"}}},
  "verifier": {"plugins": [{"name": "notation", "verificationCerts": ["/nonexistent"],
    "trustPolicyDoc": {"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}, "trustStores": [], "trustedIdentities": []}]}}]}
}`
