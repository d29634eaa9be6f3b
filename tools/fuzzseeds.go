//go:build ignore

// fuzzseeds writes the seed corpora (testdata/fuzz/<FuzzName>/ of each
// package, in the "go test fuzz v1" format) of the fuzz targets whose
// inputs are plain data: image references and provider keys, config.json
// and the sections Kubernetes resources supply, trust policies, Rego
// modules and inputs, referrers listings and manifests, registry token
// answers, pull secrets, PEM, plugin output, SARIF documents. The values
// are what real tools write (the README's config.json examples, Docker
// buildx indexes, notation and cosign manifests, Gatekeeper's
// ProviderRequest, kubectl's docker-registry Secrets, the Trivy and Grype
// logs of verifier/vulnerabilityreport/testdata, the Rego policies of
// policy/rego's tests), with certificates and keys made here. Signature
// envelopes, bundles and sealed cache entries need the packages' test
// helpers: their TestWriteFuzzSeeds (RATIFY_WRITE_FUZZ_SEEDS=1) write
// those. Run from the repository root:
//
//	go run tools/fuzzseeds.go
//
// It rewrites only the files it names; the seeds must keep passing `go test`.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	log.SetFlags(0)
	n := 0
	for _, s := range seeds() {
		write(s)
		n++
	}
	log.Printf("fuzzseeds: wrote %d seed files", n)
}

// seed is one file of a target's corpus: the target's arguments, in order.
type seed struct {
	pkg, target, name string
	values            []any
}

func write(s seed) {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range s.values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		default:
			log.Fatalf("%s/%s: value of type %T", s.target, s.name, v)
		}
	}
	dir := filepath.Join(s.pkg, "testdata", "fuzz", s.target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, s.name), []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}

func seeds() []seed {
	pki := newPKI()
	var all []seed
	for _, group := range [][]seed{
		references(), executorGraphs(), configs(pki), tokenAnswers(), pullSecrets(), regoSeeds(), thresholds(),
		registryAnswers(), pems(pki), providerSeeds(), hostPatterns(), trustPolicies(), cosignScopes(), pluginOutputs(), schemaSeeds(),
	} {
		all = append(all, group...)
	}
	return all
}

// Digests and descriptors.

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// node is the descriptor FuzzExecutorGraph's fuzzNode(i, "") gives.
func node(i int) (dgst string, size int) { return sha([]byte(fmt.Sprintf("node %d", i))), 100 + i }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

const (
	mtManifest  = "application/vnd.oci.image.manifest.v1+json"
	mtIndex     = "application/vnd.oci.image.index.v1+json"
	notationSig = "application/vnd.cncf.notary.signature"
	emptyConfig = `{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}`
	someDigest  = "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
)

// notationManifest is a Notary Project signature manifest as notation
// sign pushes it (JWS envelope, thumbprint and signing time annotations)
// for the subject with digest and size.
func notationManifest(subjectDigest string, subjectSize int) []byte {
	env := []byte(`{"payload":"eyJ0YXJnZXRBcnRpZmFjdCI6e319","protected":"e30","header":{"x5c":[]},"signature":"AA"}`)
	return []byte(`{"schemaVersion":2,"mediaType":"` + mtManifest + `","artifactType":"` + notationSig + `","config":` + emptyConfig +
		`,"layers":[{"mediaType":"application/jose+json","digest":"` + sha(env) + `","size":` + strconv.Itoa(len(env)) + `}],` +
		`"subject":{"mediaType":"` + mtManifest + `","digest":"` + subjectDigest + `","size":` + strconv.Itoa(subjectSize) + `},` +
		`"annotations":{"io.cncf.notary.x509chain.thumbprint#S256":"[\"4f0a1b3c5d7e9f21436587a9cbed0f214365879a0bcdef123456789abcdef012\",` +
		`\"0e8d7c6b5a4938271605f4e3d2c1b0a99887766554433221100ffeeddccbbaa9\"]","org.opencontainers.image.created":"2025-05-30T08:14:03Z"}}`)
}

// cosignManifest is a signature manifest as cosign sign pushes it under
// the sha256-<hex>.sig tag: one simple signing layer with the signature
// annotation.
func cosignManifest(subjectDigest string) []byte {
	payload := []byte(`{"critical":{"identity":{"docker-reference":"registry.example/team/app"},"image":{"docker-manifest-digest":"` + subjectDigest +
		`"},"type":"cosign container image signature"},"optional":null}`)
	return []byte(`{"schemaVersion":2,"mediaType":"` + mtManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json",` +
		`"size":233,"digest":"sha256:9c4bd1e8d3c6f5a7b2e0d4c1a8f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4"},"layers":[{"mediaType":` +
		`"application/vnd.dev.cosign.simplesigning.v1+json","size":` + strconv.Itoa(len(payload)) + `,"digest":"` + sha(payload) +
		`","annotations":{"dev.cosignproject.cosign/signature":"MEUCIQDx0lRyb7lZzN1bG9+XpD1+3mz0GZy1Vw5hKQ4x2Gq0qQIgRk7o2J8yJ3b1w9uM3Q4f1rJ1k6fX5dU8d4c3b2a1Z0Y="}}]}`)
}

// buildxIndex is a multi-platform image index as docker buildx pushes it:
// two platforms and an attestation manifest for the first.
func buildxIndex(amd64, arm64, att string, sizes [3]int) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"` + mtIndex + `","manifests":[` +
		`{"mediaType":"` + mtManifest + `","digest":"` + amd64 + `","size":` + strconv.Itoa(sizes[0]) + `,"platform":{"architecture":"amd64","os":"linux"}},` +
		`{"mediaType":"` + mtManifest + `","digest":"` + arm64 + `","size":` + strconv.Itoa(sizes[1]) + `,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},` +
		`{"mediaType":"` + mtManifest + `","digest":"` + att + `","size":` + strconv.Itoa(sizes[2]) + `,"annotations":{"vnd.docker.reference.digest":"` + amd64 +
		`","vnd.docker.reference.type":"attestation-manifest"},"platform":{"architecture":"unknown","os":"unknown"}}]}`)
}

func references() []seed {
	const pkg, t = ".", "FuzzParseReference"
	var out []seed
	for name, ref := range map[string]string{
		"docker-hub-short":    "alpine:3.20",
		"ghcr-tag":            "ghcr.io/deislabs/ratify/notary-image:signed",
		"acr-digest":          "myregistry.azurecr.io/team/net-monitor@" + someDigest,
		"ecr-tag-and-digest":  "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1.2.3@" + someDigest,
		"localhost-port":      "localhost:5000/net-monitor:v1",
		"ipv6-port":           "[::1]:5000/app/web:latest",
		"docker-io-library":   "docker.io/library/nginx:1.27.3-alpine",
		"provider-key-ns":     "[team-a]registry.example/app:v1",
		"uppercase-repo":      "registry.example/Team/App:v1",
		"sha512-digest":       "registry.example/app@sha512:" + strings.Repeat("ab", 64),
		"registry-k8s-io-pin": "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
	} {
		out = append(out, seed{pkg, t, name, []any{ref}})
	}
	return out
}

func executorGraphs() []seed {
	const pkg, t = ".", "FuzzExecutorGraph"
	n0, s0 := node(0)
	n1, s1 := node(1)
	n2, s2 := node(2)
	n3, s3 := node(3)
	index := buildxIndex(n1, n2, n3, [3]int{s1, s2, s3})
	// Edges are (from, to + 8*type) pairs; types: 0 notation, 1 SPDX, 2 SARIF, 3 none.
	platforms := []byte{0, 4, 1, 5 + 8, 2, 6}
	signedSBOM := []byte{0, 1, 0, 2 + 8, 2, 3, 0, 4 + 16}
	newest := []byte{0, 1, 0, 2, 0, 3, 0, 4 + 16, 0, 5 + 16}
	dockerList := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[` +
		`{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"` + n1 + `","size":` + strconv.Itoa(s1) + `,"platform":{"architecture":"amd64","os":"linux"}},` +
		`{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"` + n2 + `","size":` + strconv.Itoa(s2) + `,"platform":{"architecture":"arm","os":"linux","variant":"v7"}}]}`)
	sbom := []byte(`{"schemaVersion":2,"mediaType":"` + mtManifest + `","artifactType":"application/spdx+json","config":` + emptyConfig +
		`,"layers":[{"mediaType":"application/spdx+json","digest":"` + someDigest + `","size":4987}],"subject":{"mediaType":"` + mtManifest +
		`","digest":"` + n0 + `","size":` + strconv.Itoa(s0) + `},"annotations":{"org.opencontainers.image.created":"2025-05-30T08:14:03Z"}}`)
	return []seed{
		{pkg, t, "buildx-index-platforms", []any{platforms, index, byte(1 | 2)}},
		{pkg, t, "buildx-index-index-mode", []any{platforms, index, byte(1)}},
		{pkg, t, "docker-manifest-list-by-digest", []any{platforms, dockerList, byte(1 | 2 | 8)}},
		{pkg, t, "notation-signed-sbom", []any{signedSBOM, notationManifest(n0, s0), byte(0)}},
		{pkg, t, "newest-selection", []any{newest, sbom, byte(4 | 8)}},
	}
}

// configs are config.json documents for FuzzParse and the sections
// Kubernetes resources supply for FuzzCompose, from the README's examples
// and the Helm chart's resources.
func configs(p pkiMaterial) []seed {
	readme := string(read("README.md"))
	block := func(contains string) string {
		for _, b := range strings.Split(readme, "```json\n")[1:] {
			b, _, _ = strings.Cut(b, "```")
			if strings.Contains(b, contains) {
				return b
			}
		}
		log.Fatalf("README.md has no json block with %q", contains)
		return ""
	}
	full := block(`"store": {`)
	var base map[string]any
	if err := json.Unmarshal([]byte(full), &base); err != nil {
		log.Fatalf("README config.json: %v", err)
	}
	with := func(edit func(c map[string]any)) []byte {
		var c map[string]any
		_ = json.Unmarshal([]byte(full), &c)
		edit(c)
		return mustJSON(c)
	}
	object := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			log.Fatalf("%v in %s", err, s)
		}
		return v
	}
	plugins := func(c map[string]any, section string) map[string]any { return c[section].(map[string]any) }

	cosign := object(block(`"name": "cosign"`))
	threshold := object(block(`"thresholdPolicy"`))
	kmp := object("{" + block(`"keyManagementProviders"`) + "}").(map[string]any)["keyManagementProviders"]
	inlineCert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}))

	const pkg = "config"
	out := []seed{
		{pkg, "FuzzParse", "readme-config", []any{[]byte(full)}},
		{pkg, "FuzzParse", "cosign-keys-and-keyless", []any{with(func(c map[string]any) {
			plugins(c, "store")["plugins"] = []any{map[string]any{"name": "oras", "cosignEnabled": true, "allowedRegistries": []any{"registry.example", "*.azurecr.io"}}}
			plugins(c, "verifier")["plugins"] = []any{cosign}
			c["keyManagementProviders"] = []any{object(`{"name":"kmprovider-akv","type":"azurekeyvault","parameters":{` +
				`"vaultURI":"https://myvault.vault.azure.net/","tenantID":"72f988bf-86f1-41af-91ab-2d7cd011db47","keys":[{"name":"signer"}]}}`)}
			plugins(c, "policy")["plugin"] = object(`{"name":"configPolicy","artifactVerificationPolicies":{"application/vnd.dev.cosign.artifact.sig.v1+json":"any","default":"all"}}`)
		})}},
		{pkg, "FuzzParse", "supply-chain-verifiers-rego", []any{with(func(c map[string]any) {
			v := plugins(c, "verifier")
			v["plugins"] = append(v["plugins"].([]any),
				object(`{"name":"sbom","artifactTypes":"application/spdx+json","nestedReferences":"application/vnd.cncf.notary.signature",`+
					`"disallowedLicenses":["GPL-2.0-only","AGPL-3.0-or-later"],"disallowedPackages":[{"name":"log4j-core","version":"2.14.1"}]}`),
				object(`{"name":"vulnerabilityreport","artifactTypes":"application/sarif+json","maximumAge":"24h",`+
					`"disallowedSeverities":["high","critical"],"denylistCVEs":["CVE-2021-44228"]}`),
				object(`{"name":"schemavalidator","artifactTypes":"application/vnd.aquasecurity.trivy.report.sarif.v1",`+
					`"schemas":{"application/sarif+json":"file:///etc/ratify/schemas/sarif-2.1.0.json"}}`),
				object(`{"name":"attestation","artifactTypes":["application/vnd.dev.sigstore.bundle.v0.3+json","application/vnd.in-toto+json"],`+
					`"keyless":{"certificateIdentityRegExp":"^https://github.com/example/.*$","certificateOIDCIssuer":"https://token.actions.githubusercontent.com"},`+
					`"trustedRootFile":"/etc/ratify/trusted_root.json","predicates":[{"predicateType":"https://slsa.dev/provenance/v1",`+
					`"slsa":{"builderID":"https://github.com/actions/runner/github-hosted","sourceRepository":"https://github.com/example/app","sourceRef":"refs/heads/main"}}]}`))
			plugins(c, "policy")["plugin"] = map[string]any{"name": "regoPolicy", "passthroughEnabled": false, "policy": regoPolicies()["allValid"]}
		})}},
		{pkg, "FuzzParse", "threshold-platforms-selection", []any{with(func(c map[string]any) {
			pol := threshold.(map[string]any)
			pol["rules"] = []any{object(`{"verifierName":"notation"}`)}
			pol["threshold"] = 1
			pol["multiPlatform"] = object(`{"default":"either","registry.example/team/*":"platforms"}`)
			pol["artifactSelection"] = object(`{"application/sarif+json":{"newest":1,"annotations":{"org.example/scanner":"trivy"}}}`)
			plugins(c, "policy")["plugin"] = pol
		})}},
		{pkg, "FuzzParse", "key-management-providers", []any{with(func(c map[string]any) {
			providers := kmp.([]any)
			for _, k := range providers {
				if k := k.(map[string]any); k["type"] == "inline" {
					k["parameters"].(map[string]any)["value"] = inlineCert
				}
			}
			c["keyManagementProviders"] = providers
			v := plugins(c, "verifier")["plugins"].([]any)[0].(map[string]any)
			delete(v, "verificationCerts")
			v["verificationCertStores"] = object(`{"ca":{"certs":["akv","ca"]},"tsa":{"tsa-certs":["mounted"]}}`)
		})}},
		{pkg, "FuzzParse", "azure-workload-identity-store", []any{with(func(c map[string]any) {
			plugins(c, "store")["plugins"] = []any{object(`{"name":"oras","authProvider":{"name":"azureWorkloadIdentity",` +
				`"clientID":"1c7ac023-5bf6-4916-83f2-96dd203e35a1","tenantID":"72f988bf-86f1-41af-91ab-2d7cd011db47","endpoints":["*.azurecr.io","registry.example"]},` +
				`"registryCABundles":{"registry.local:5443":"ca.pem"},"allowedRegistries":["myregistry.azurecr.io","registry.local:5443"]}`)}
		})}},
		{pkg, "FuzzParse", "external-plugin", []any{with(func(c map[string]any) {
			v := plugins(c, "verifier")
			v["pluginBinDirs"] = []any{"/.ratify/plugins"}
			v["plugins"] = append(v["plugins"].([]any), object(`{"name":"licensechecker","artifactTypes":"application/vnd.ratify.spdx.v0",`+
				`"allowedLicenses":["MIT","Apache-2.0"]}`))
		})}},
	}

	// FuzzCompose: verifier, policy, store and key management provider
	// sections as internal/k8s makes them of the chart's resources.
	compose := func(name, verifier, policy, store, keyProvider string) seed {
		return seed{pkg, "FuzzCompose", name, []any{[]byte(verifier), []byte(policy), []byte(store), []byte(keyProvider)}}
	}
	out = append(out,
		compose("chart-akv-workload-identity",
			`{"artifactTypes":"application/vnd.cncf.notary.signature","name":"notation","trustPolicyDoc":{"trustPolicies":[{"name":"default",`+
				`"registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:certs"],"trustedIdentities":["*"]}],"version":"1.0"},`+
				`"verificationCertStores":{"ca":{"certs":["kmprovider-akv"]}},"verificationCerts":["/usr/local/ratify-certs/notation"]}`,
			`{"artifactVerificationPolicies":{"application/vnd.cncf.notary.signature":"any"},"name":"configPolicy"}`,
			`{"authProvider":{"clientID":"1c7ac023-5bf6-4916-83f2-96dd203e35a1","name":"azureWorkloadIdentity"},"cosignEnabled":true,"name":"oras","useHttp":false}`,
			`{"name":"kmprovider-akv","type":"azurekeyvault","parameters":{"certificates":[{"name":"wabbit-networks-io"}],`+
				`"clientID":"1c7ac023-5bf6-4916-83f2-96dd203e35a1","tenantID":"72f988bf-86f1-41af-91ab-2d7cd011db47","vaultURI":"https://myvault.vault.azure.net/"}}`),
		compose("namespaced-cosign-rego",
			`{"artifactTypes":"application/vnd.dev.cosign.artifact.sig.v1+json","name":"verifier-cosign","type":"cosign","trustPolicies":[{"name":"default",`+
				`"scopes":["registry.example/team-a/*"],"keys":[{"provider":"team-a/inline-cosign-key"}],"version":"1.0.0"}]}`,
			mustJSONString(map[string]any{"name": "regoPolicy", "policy": regoPolicies()["oneNotation"]}),
			`{"name":"oras","cosignEnabled":true,"authProvider":{"name":"k8Secrets","serviceAccountName":"ratify-admin","secrets":[{"secretName":"regcred","namespace":"team-a"}]}}`,
			mustJSONString(map[string]any{"name": "team-a/inline-cosign-key", "type": "inline",
				"parameters": map[string]any{"contentType": "key", "value": string(p.ecdsaPKIX)}})),
		compose("threshold-inline-cert",
			`{"name":"notation-b","type":"notation","artifactTypes":"application/vnd.cncf.notary.signature","verificationCertStores":{"certs":["inline-cert"]},`+
				`"trustPolicyDoc":{"version":"1.0","trustPolicies":[{"name":"b","registryScopes":["registry.local:5000/app"],`+
				`"signatureVerification":{"level":"strict"},"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}}`,
			`{"name":"thresholdPolicy","threshold":1,"rules":[{"verifierName":"notation-b","nested":true}]}`,
			`{"name":"oras","useHttp":true,"allowedRegistries":["registry.local:5000"]}`,
			mustJSONString(map[string]any{"name": "inline-cert", "type": "inline", "parameters": map[string]any{"contentType": "certificate", "value": inlineCert}})),
	)

	for name, s := range map[string][2]string{
		"team-wildcard":      {"registry.example/team/*", "registry.example/team/app"},
		"exact-repository":   {"myregistry.azurecr.io/net-monitor", "myregistry.azurecr.io/net-monitor"},
		"default":            {"default", "docker.io/library/nginx"},
		"wildcard-with-port": {"registry.local:5000/*", "registry.local:5000/a/b"},
	} {
		out = append(out, seed{pkg, "FuzzMultiPlatformScope", name, []any{s[0], s[1]}})
	}
	return out
}

func mustJSONString(v any) string { return string(mustJSON(v)) }

// regoPolicies are the Rego modules of policy/rego's tests, in the shapes
// of Ratify v1's documentation, read from the string constants of
// policy/rego/rego_test.go that hold a module of package ratify.policy.
func regoPolicies() map[string]string {
	f, err := parser.ParseFile(token.NewFileSet(), "policy/rego/rego_test.go", nil, 0)
	if err != nil {
		log.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, v := range spec.Values {
			lit, ok := v.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && strings.HasPrefix(s, "package ratify.policy") {
				out[spec.Names[i].Name] = s
			}
		}
		return true
	})
	if len(out) == 0 {
		log.Fatal("no Rego modules in policy/rego/rego_test.go")
	}
	return out
}

func regoSeeds() []seed {
	const pkg = "policy/rego"
	var out []seed
	for name, m := range regoPolicies() {
		out = append(out, seed{pkg, "FuzzModule", "test-" + name, []any{m}})
	}
	// Reports as the verifiers make them.
	subject := "registry.example/team/app@" + someDigest
	notation := map[string]any{"subject": subject, "isSuccess": true, "name": "notation", "verifierName": "notation", "type": "notation",
		"verifierType": "notation", "referenceDigest": "sha256:2f1d7d6b5ad4b7c0c3a8f9d0e1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e",
		"artifactType": notationSig, "message": "signature verification success",
		"extensions": map[string]any{"Issuer": "CN=ratify-bats-test,O=Notary,L=Seattle,ST=WA,C=US", "SN": "CN=ratify-bats-test,O=Notary,L=Seattle,ST=WA,C=US"}}
	cosign := map[string]any{"subject": subject, "isSuccess": false, "verifierName": "cosign", "verifierType": "cosign",
		"referenceDigest": "sha256:8d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e", "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
		"errorReason": "no signature verified with the trust policy's keys", "remediation": "Sign the image with a key of the trust policy.",
		"extensions": map[string]any{"signatures": []any{map[string]any{"signatureDigest": "sha256:0a1b", "isSuccess": false,
			"verifications": []any{map[string]any{"keyInformation": map[string]any{"provider": "inline-cosign-key", "name": "default"}, "isSuccess": false,
				"error": "invalid signature when validating ASN.1 encoded signature"}}}}, "trustPolicy": "default"}}
	sbom := map[string]any{"subject": subject, "isSuccess": true, "verifierName": "sbom", "verifierType": "sbom",
		"referenceDigest": "sha256:8c5bd0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9", "artifactType": "application/spdx+json",
		"extensions": map[string]any{"creationInfo": map[string]any{"created": "2025-05-30T08:00:00Z", "creators": []any{"Tool: syft-1.4.1"}},
			"licenseViolations": []any{}, "packageViolations": []any{}},
		"nestedResults": []any{map[string]any{"subject": "registry.example/team/app@sha256:8c5bd0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9",
			"isSuccess": true, "verifierName": "notation", "referenceDigest": "sha256:3e4f", "artifactType": notationSig}}}
	out = append(out,
		seed{pkg, "FuzzInput", "notation-pass", []any{mustJSON([]any{notation})}},
		seed{pkg, "FuzzInput", "cosign-fail-notation-pass", []any{mustJSON([]any{cosign, notation})}},
		seed{pkg, "FuzzInput", "signed-sbom", []any{mustJSON([]any{notation, sbom})}},
	)
	return out
}

func thresholds() []seed {
	const pkg, t = "policy/threshold", "FuzzParseConfig"
	return []seed{
		{pkg, t, "two-of-three-signers", []any{[]byte(`{"name": "thresholdPolicy", "threshold": 2, "rules": [
  {"verifierName": "notation-a"}, {"verifierName": "notation-b"},
  {"threshold": 1, "rules": [{"verifierName": "cosign-keyless"}, {"verifierName": "cosign-key"}]}]}`)}},
		{pkg, t, "signed-sbom-nested", []any{[]byte(`{"name":"thresholdPolicy","rules":[{"verifierName":"notation"},{"verifierName":"sbom"},` +
			`{"verifierName":"sbom-signature","nested":true}]}`)}},
		{pkg, t, "four-levels", []any{[]byte(`{"name":"thresholdPolicy","threshold":1,"rules":[{"threshold":1,"rules":[{"threshold":1,"rules":[` +
			`{"rules":[{"verifierName":"a"},{"verifierName":"b"}]}]}]},{"verifierName":"c"}]}`)}},
	}
}

func registryAnswers() []seed {
	const pkg, t = "store/registry", "FuzzStoreResponses"
	const (
		noReferrersAPI = 1 << iota
		cosignTag
		jsonType
		linkSelf
		wrongDigest
		noLength
	)
	sub := sha([]byte("subject"))
	sig := notationManifest(sub, 7)
	cosign := cosignManifest(sub)
	listing := func(entries ...string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"` + mtIndex + `","manifests":[` + strings.Join(entries, ",") + `]}`)
	}
	entry := func(m []byte, artifactType, annotations string) string {
		e := `{"mediaType":"` + mtManifest + `","digest":"` + sha(m) + `","size":` + strconv.Itoa(len(m))
		if artifactType != "" {
			e += `,"artifactType":"` + artifactType + `"`
		}
		if annotations != "" {
			e += `,"annotations":` + annotations
		}
		return e + "}"
	}
	created := `{"org.opencontainers.image.created":"2025-05-30T08:14:03Z","io.cncf.notary.x509chain.thumbprint#S256":"[\"4f0a\"]"}`
	sbomEntry := `{"mediaType":"` + mtManifest + `","digest":"` + someDigest + `","size":712,"artifactType":"application/spdx+json",` +
		`"annotations":{"org.opencontainers.image.created":"2025-05-29T11:02:00Z"}}`
	dockerImage := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":` +
		`"application/vnd.docker.container.image.v1+json","size":1472,"digest":"sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741"},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":3623807,"digest":"sha256:43c4264eed91be63b206e17d93e75256a6097070ce643c5e8f0379998b44f170"}]}`)
	return []seed{
		{pkg, t, "referrers-api-notation-sbom", []any{listing(entry(sig, notationSig, created), sbomEntry), sig, byte(0)}},
		{pkg, t, "tag-schema-cosign", []any{listing(entry(cosign, "", "")), cosign, byte(noReferrersAPI | cosignTag)}},
		{pkg, t, "json-typed-chunked", []any{listing(entry(sig, notationSig, "")), sig, byte(jsonType | noLength)}},
		{pkg, t, "paged-forever", []any{listing(entry(sig, notationSig, created)), sig, byte(linkSelf)}},
		{pkg, t, "wrong-digest-header", []any{listing(entry(sig, notationSig, "")), sig, byte(wrongDigest | cosignTag)}},
		{pkg, t, "empty-listing-docker-image", []any{listing(), dockerImage, byte(0)}},
	}
}

// pkiMaterial is what the seeds of PEM parsers carry: a root and a
// code-signing leaf, and public keys as cosign and openssl write them.
type pkiMaterial struct {
	root, leaf                                *x509.Certificate
	ecdsaPKIX, rsaPKIX, rsaPKCS1, ed25519PKIX []byte
}

func newPKI() pkiMaterial {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	issue := func(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
		if err != nil {
			log.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Ratify Test"}, CommonName: "root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root := issue(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject:   pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Locality: []string{"Seattle"}, Organization: []string{"Ratify Test"}, CommonName: "code signing"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leaf := issue(leafTmpl, root, leafKey.Public(), rootKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pkixPEM := func(pub crypto.PublicKey) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			log.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	return pkiMaterial{root: root, leaf: leaf, ecdsaPKIX: pkixPEM(leafKey.Public()), rsaPKIX: pkixPEM(rsaKey.Public()),
		rsaPKCS1:    pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}),
		ed25519PKIX: pkixPEM(edPub)}
}

func pems(p pkiMaterial) []seed {
	const pkg, t = "keys", "FuzzParsePEM"
	cert := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	chain := append(cert(p.leaf), cert(p.root)...)
	bundle := []byte("# Ratify Test root\n# Issuer: C=US, O=Ratify Test, CN=root\n" + string(cert(p.root)) + "\n# code signing\n" + string(cert(p.leaf)))
	return []seed{
		{pkg, t, "notation-chain", []any{chain}},
		{pkg, t, "ca-bundle-with-comments", []any{bundle}},
		{pkg, t, "cosign-pub-ecdsa", []any{p.ecdsaPKIX}},
		{pkg, t, "rsa-pkix-and-pkcs1", []any{append(append([]byte{}, p.rsaPKIX...), p.rsaPKCS1...)}},
		{pkg, t, "ed25519-pub-and-cert", []any{append(append([]byte{}, p.ed25519PKIX...), cert(p.root)...)}},
	}
}

func tokenAnswers() []seed {
	const pkg, t = "auth/azure", "FuzzExchange"
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// A refresh token as ACR's /oauth2/exchange answers it: an RS256 JWT.
	claims := `{"jti":"3b2f5c1e-7a9d-4e8b-b6c1-0d2e3f4a5b6c","sub":"1c7ac023-5bf6-4916-83f2-96dd203e35a1","nbf":1748592000,"exp":1748603700,` +
		`"iat":1748592000,"iss":"Azure Container Registry","aud":"myregistry.azurecr.io","version":"1.0","rid":"6a7b8c9d0e1f",` +
		`"grant_type":"refresh_token","appid":"1c7ac023-5bf6-4916-83f2-96dd203e35a1","tenant":"72f988bf-86f1-41af-91ab-2d7cd011db47",` +
		`"permissions":{"actions":["read"],"notActions":[]},"roles":[]}`
	jwt := b64(`{"alg":"RS256","typ":"JWT","kid":"2ZQK:VLEL:2DIV:6X3B:AJV4:AGD4:PZRI:KM3Z:DY4Y:YUAL:L3KN:QGTG"}`) + "." + b64(claims) + "." +
		base64.RawURLEncoding.EncodeToString(make([]byte, 256))
	return []seed{
		{pkg, t, "acr-refresh-token", []any{200, []byte(`{"refresh_token":"` + jwt + `"}`)}},
		{pkg, t, "acr-unauthorized", []any{401, []byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit https://aka.ms/acr/authorization for more information."}]}`)}},
		{pkg, t, "acr-bad-request", []any{400, []byte(`{"errors":[{"code":"BadRequest","message":"invalid grant_type","detail":null}]}`)}},
		{pkg, t, "throttled", []any{429, []byte(`{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests"}]}`)}},
	}
}

func pullSecrets() []seed {
	const pkg, t = "auth/k8secrets", "FuzzParseSecret"
	auth := func(user, pass string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)) }
	return []seed{
		// kubectl create secret docker-registry regcred --docker-server=... --docker-username=... --docker-password=... --docker-email=...
		{pkg, t, "kubectl-docker-registry", []any{true, []byte(`{"auths":{"myregistry.azurecr.io":{"username":"1c7ac023-5bf6-4916-83f2-96dd203e35a1",` +
			`"password":"s3cr3t~pa55","email":"ops@example.com","auth":"` + auth("1c7ac023-5bf6-4916-83f2-96dd203e35a1", "s3cr3t~pa55") + `"}}}`)}},
		{pkg, t, "docker-hub-and-ecr", []any{true, []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"` + auth("ratify", "dckr_pat_x") + `"},` +
			`"123456789012.dkr.ecr.us-east-1.amazonaws.com":{"username":"AWS","password":"eyJwYXlsb2FkIjoiIn0="}}}`)}},
		{pkg, t, "acr-identity-token", []any{true, []byte(`{"auths":{"myregistry.azurecr.io":{"username":"00000000-0000-0000-0000-000000000000",` +
			`"identitytoken":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}},"credsStore":"desktop"}`)}},
		{pkg, t, "legacy-dockercfg", []any{false, []byte(`{"https://index.docker.io/v1/":{"auth":"` + auth("ratify", "pw") + `","email":"ops@example.com"},` +
			`"registry.local:5000":{"auth":"` + auth("admin", "admin") + `"}}`)}},
		{pkg, t, "gcr-json-key", []any{true, []byte(`{"auths":{"https://gcr.io":{"username":"_json_key","password":"{\"type\":\"service_account\",` +
			`\"project_id\":\"example\"}","auth":"` + auth("_json_key", `{"type":"service_account","project_id":"example"}`) + `"}}}`)}},
	}
}

func providerSeeds() []seed {
	const pkg = "internal/server"
	var out []seed
	for name, k := range map[string]string{
		"namespaced-tag":    "[default]registry.example/app:v1",
		"kube-system-pin":   "[kube-system]registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
		"short-name":        "[team-a]nginx",
		"gatekeeper-system": "[gatekeeper-system]openpolicyagent/gatekeeper:v3.18.2",
		"no-namespace-ipv6": "[::1]:5000/app:v1",
	} {
		out = append(out, seed{pkg, "FuzzParseKey", name, []any{k}})
	}
	request := func(keys ...string) []byte {
		return mustJSON(map[string]any{"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest", "request": map[string]any{"keys": keys}})
	}
	// Keys name registries off the target's allow-list, so they are refused
	// before any request: these seeds reach no network.
	out = append(out,
		seed{pkg, "FuzzProviderRequest", "gatekeeper-pod-containers", []any{request("[default]registry.example/app:v1",
			"[default]registry.example/sidecar@"+someDigest, "[default]registry.example/init:1.0"), false}},
		seed{pkg, "FuzzProviderRequest", "mutation-tag-to-digest", []any{request("[team-a]registry.example/team-a/web:latest"), true}},
		seed{pkg, "FuzzProviderRequest", "deployment-replicas-repeat", []any{request("[prod]myregistry.azurecr.io/api:2.3.1",
			"[prod]myregistry.azurecr.io/api:2.3.1", "[prod]myregistry.azurecr.io/api:2.3.1"), false}},
		seed{pkg, "FuzzProviderRequest", "keys-without-namespace", []any{request("docker.io/library/nginx:1.27", "ghcr.io/deislabs/ratify/notary-image:signed"), false}},
	)
	return out
}

func hostPatterns() []seed {
	const pkg, t = "internal/hostlist", "FuzzAllowed"
	var out []seed
	for name, s := range map[string][2]string{
		"acr-wildcard":      {"*.azurecr.io", "myregistry.azurecr.io"},
		"sovereign-port":    {"*.azurecr.us", "myregistry.azurecr.us:443"},
		"local-port-case":   {"registry.local:5000", "REGISTRY.local:5000"},
		"ecr-account":       {"123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com"},
		"ipv4-no-port":      {"10.0.0.5", "10.0.0.5:443"},
		"wildcard-two-deep": {"*.azurecr.io", "westus.data.azurecr.io"},
	} {
		out = append(out, seed{pkg, t, name, []any{s[0], s[1]}})
	}
	return out
}

// trustPolicies are Notary Project trust policy documents as the
// specification and Ratify v1's chart write them, for FuzzTrustPolicy's
// subject registry.fuzz/team/app.
func trustPolicies() []seed {
	const pkg, t = "verifier/notation", "FuzzTrustPolicy"
	var out []seed
	for name, doc := range map[string]string{
		"chart-default": `{"version":"1.0","trustPolicies":[{"name":"default","registryScopes":["*"],"signatureVerification":{"level":"strict"},` +
			`"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}`,
		"scoped-identities": `{"version":"1.0","trustPolicies":[{"name":"wabbit-networks-images","registryScopes":["registry.fuzz/team/app","registry.fuzz/team/other"],` +
			`"signatureVerification":{"level":"strict"},"trustStores":["ca:certs","tsa:certs"],` +
			`"trustedIdentities":["x509.subject: C=US, ST=WA, L=Seattle, O=Ratify Test, CN=code signing"]}]}`,
		"permissive-overrides": `{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["registry.fuzz/team/app"],` +
			`"signatureVerification":{"level":"permissive","override":{"expiry":"log","revocation":"skip"},"verifyTimestamp":"afterCertExpiry"},` +
			`"trustStores":["ca:certs","signingAuthority:certs"],"trustedIdentities":["*"]}]}`,
		"global-and-specific": `{"version":"1.0","trustPolicies":[{"name":"global","registryScopes":["*"],"signatureVerification":{"level":"audit"},` +
			`"trustStores":["ca:certs"],"trustedIdentities":["*"]},{"name":"team","registryScopes":["registry.fuzz/team/app"],` +
			`"signatureVerification":{"level":"strict","override":{"authenticity":"log"}},"trustStores":["ca:certs"],"trustedIdentities":["*"]}]}`,
	} {
		out = append(out, seed{pkg, t, name, []any{[]byte(doc)}})
	}
	return out
}

func cosignScopes() []seed {
	const pkg, t = "verifier/cosign", "FuzzScope"
	var out []seed
	for name, s := range map[string][2]string{
		"team-wildcard":  {"registry.example/team/*", "registry.example/team/app"},
		"exact-acr":      {"myregistry.azurecr.io/net-monitor", "myregistry.azurecr.io/net-monitor"},
		"ghcr-org":       {"ghcr.io/deislabs/*", "ghcr.io/deislabs/ratify/notary-image"},
		"ecr-with-tag":   {"123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"},
		"local-wildcard": {"localhost:5000/*", "localhost:5000/demo"},
	} {
		out = append(out, seed{pkg, t, name, []any{s[0], s[1]}})
	}
	return out
}

func pluginOutputs() []seed {
	const pkg, t = "verifier/plugin", "FuzzPluginOutput"
	return []seed{
		// Ratify v1's sample licensechecker and sbom plugins.
		{pkg, t, "licensechecker-pass", []any{[]byte(`{"name":"licensechecker","type":"licensechecker","isSuccess":true,` +
			`"message":"License Check: SUCCESS. All packages have allowed licenses","extensions":null}` + "\n")}},
		{pkg, t, "sbom-fail-extensions", []any{[]byte(`{"name":"sbom","isSuccess":false,"message":"SBOM validation failed",` +
			`"extensions":{"creationInfo":{"created":"2023-05-04T18:52:35Z","creators":["Tool: syft-0.76.0"]},` +
			`"licenseViolations":[{"Name":"musl","Version":"1.2.3-r4","License":"MIT"}],"packageViolations":[]}}`)}},
		{pkg, t, "plugin-error-after-logs", []any{[]byte("time=\"2025-05-30T08:14:03Z\" level=info msg=\"fetching blob\"\n" +
			`{"code":5,"msg":"failed to fetch blob","details":"GET https://registry.example/v2/app/blobs/` + someDigest + `: 404"}` + "\n")}},
	}
}

func schemaSeeds() []seed {
	const pkg = "verifier/schemavalidator"
	return []seed{
		{pkg, "FuzzVerifyDocument", "trivy-sarif", []any{read("verifier/vulnerabilityreport/testdata/trivy.sarif.json")}},
		{pkg, "FuzzVerifyDocument", "grype-sarif", []any{read("verifier/vulnerabilityreport/testdata/grype.sarif.json")}},
		{pkg, "FuzzConfig", "v1-sarif-file", []any{[]byte(`{"name":"schemavalidator","type":"schemavalidator",` +
			`"artifactTypes":"application/vnd.aquasecurity.trivy.report.sarif.v1","schemas":{"application/sarif+json":"file:///schemas/sarif-2.1.0-rtm.5.json"}}`)}},
		{pkg, "FuzzConfig", "inline-and-relative", []any{[]byte(`{"name":"schemas","artifactTypes":["application/spdx+json","application/sarif+json"],` +
			`"schemas":{"application/spdx+json":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["spdxVersion"]},` +
			`"application/sarif+json":"schemas/sarif.json"}}`)}},
	}
}
