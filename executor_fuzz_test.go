package ratify_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/policy/configpolicy"
)

// fuzzNodes is how many artifacts a fuzzed referrer graph has; node 0 is
// the subject.
const fuzzNodes = 8

// fuzzArtifactTypes are the artifact types nodes are listed with.
var fuzzArtifactTypes = []string{"application/vnd.cncf.notary.signature", "application/spdx+json", "application/sarif+json", ""}

// hostileStore serves a referrer graph chosen by the fuzzer: any node may
// list any node (itself, its own subject) as a referrer, and every fetch
// answers the same fuzzed bytes, whatever the descriptor says; it checks
// nothing, as a store that a broken registry fooled would.
type hostileStore struct {
	edges     map[digest.Digest][]ocispec.Descriptor
	content   []byte
	mediaType string
}

func fuzzNode(i int, artifactType string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType,
		Digest: digest.FromString(fmt.Sprintf("node %d", i)), Size: int64(100 + i)}
}

func (s *hostileStore) Resolve(_ context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	d := fuzzNode(0, "")
	d.MediaType = s.mediaType
	return d, nil
}

func (s *hostileStore) Referrers(_ context.Context, _ registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return s.edges[subject.Digest], nil
}

func (s *hostileStore) Fetch(_ context.Context, _ registry.Reference, _ ocispec.Descriptor) ([]byte, error) {
	return s.content, nil
}

// passingVerifier passes every artifact it can read and asks for the
// referrers of every artifact type to be verified on it.
type passingVerifier struct{ name string }

func (v passingVerifier) Name() string               { return v.name }
func (v passingVerifier) Type() string               { return "passing" }
func (v passingVerifier) CanVerify(string) bool      { return true }
func (v passingVerifier) NestedReferences() []string { return fuzzArtifactTypes }
func (v passingVerifier) Verify(ctx context.Context, _ ratify.Subject, a ocispec.Descriptor, f ratify.Fetcher) (ratify.Report, error) {
	if _, err := f.Fetch(ctx, a); err != nil {
		return ratify.Report{}, err
	}
	return ratify.Report{IsSuccess: true, Message: "read"}, nil
}

// FuzzExecutorGraph runs the executor over referrer graphs and manifests
// a registry controls: loops (A refers to B refers to A, a node referring
// to itself), fan-out, subjects that claim to be image indexes with
// fuzzed platform lists, manifests whose "subject" field lies. Every run
// ends (loops end at the nesting limit), nothing panics, a failure to
// reach a verdict wraps an errdef sentinel or the deadline, and a pass
// always rests on reports.
func FuzzExecutorGraph(f *testing.F) {
	loop := []byte{0, 1, 1, 2, 2, 1}
	self := []byte{0, 0}
	fan := []byte{0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7}
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + fuzzNode(1, "").Digest.String() + `","size":101,"platform":{"os":"linux","architecture":"amd64"}},` +
		`{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + fuzzNode(0, "").Digest.String() + `","size":100,"platform":{"os":"linux","architecture":"arm64"}}]}`)
	manifest := []byte(`{"schemaVersion":2,"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + fuzzNode(0, "").Digest.String() + `","size":100}}`)
	for mode := range uint8(8) {
		f.Add(loop, manifest, mode)
		f.Add(self, index, mode)
		f.Add(fan, index, mode)
	}
	f.Add([]byte{}, []byte(`{"manifests":[{"digest":"sha256:x"}]}`), uint8(3))
	f.Add(loop, []byte(`{"subject":{"digest":"`+fuzzNode(0, "").Digest.String()+`","size":-1,"mediaType":"x"}}`), uint8(4))

	f.Fuzz(func(t *testing.T, edges, content []byte, mode uint8) {
		s := &hostileStore{edges: map[digest.Digest][]ocispec.Descriptor{}, content: content, mediaType: ocispec.MediaTypeImageManifest}
		for i := 0; i+1 < len(edges) && i < 256; i += 2 {
			from, to := int(edges[i]%fuzzNodes), int(edges[i+1]%fuzzNodes)
			typ := fuzzArtifactTypes[int(edges[i+1]/fuzzNodes)%len(fuzzArtifactTypes)]
			d := fuzzNode(from, "")
			s.edges[d.Digest] = append(s.edges[d.Digest], fuzzNode(to, typ))
		}
		if mode&1 != 0 {
			s.mediaType = ocispec.MediaTypeImageIndex
		}
		policy, err := configpolicy.New(map[string]string{"default": "any"})
		if err != nil {
			t.Fatal(err)
		}
		e := &ratify.Executor{Store: s, Verifiers: []ratify.Verifier{passingVerifier{"a"}, passingVerifier{"b"}}, Policy: policy,
			MaxNestingDepth: 3, Concurrency: 4}
		if mode&2 != 0 {
			e.PlatformMode = func(string) ratify.PlatformMode { return ratify.PlatformsAll }
		}
		if mode&4 != 0 {
			e.Selection = map[string]ratify.ArtifactSelection{fuzzArtifactTypes[0]: {Newest: 1}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		reference := "registry.fuzz.invalid/app:v1"
		if mode&8 != 0 {
			reference = "registry.fuzz.invalid/app@" + fuzzNode(0, "").Digest.String()
		}
		res, err := e.Verify(ctx, reference, ratify.VerifyOptions{})
		if err != nil {
			if !errors.Is(err, errdef.ErrSizeExceedsLimit) && !errors.Is(err, errdef.ErrInvalidContent) &&
				!errors.Is(err, errdef.ErrNotFound) && !errors.Is(err, errdef.ErrUnsupported) && !errors.Is(err, errdef.ErrTimeout) {
				t.Fatalf("Verify: %v wraps no sentinel", err)
			}
			return
		}
		if res.IsSuccess && len(res.VerifierReports) == 0 && len(res.Platforms) == 0 {
			t.Fatalf("passed without a report: %+v", res)
		}
	})
}
