package ratify_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// multiPlatform stores an index of two platform manifests (and a buildx
// attestation manifest, which is no platform) and returns the index and the
// platforms.
func multiPlatform(s *memStore) (index ocispec.Descriptor, amd64, arm64 ocispec.Descriptor) {
	amd64 = s.add(ocispec.MediaTypeImageManifest, "", []byte("linux/amd64 image"))
	amd64.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = s.add(ocispec.MediaTypeImageManifest, "", []byte("linux/arm64 image"))
	arm64.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	att := s.add(ocispec.MediaTypeImageManifest, "", []byte("attestation"))
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	raw, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{amd64, arm64, att}})
	index = s.add(ocispec.MediaTypeImageIndex, "", raw)
	s.tags["app:multi"] = index
	return index, amd64, arm64
}

// TestPlatformModes checks each platform mode on an index with two
// platforms where only some things are signed.
func TestPlatformModes(t *testing.T) {
	type signing struct{ index, amd64, arm64 bool }
	tests := []struct {
		name   string
		mode   ratify.PlatformMode
		signed signing
		want   bool
		// platforms is how many platform results the answer lists.
		platforms int
	}{
		{"index: index signed", ratify.PlatformsIndex, signing{index: true}, true, 0},
		{"index: only platforms signed", ratify.PlatformsIndex, signing{amd64: true, arm64: true}, false, 0},
		{"platforms: one platform signed", ratify.PlatformsAll, signing{index: true, amd64: true}, false, 2},
		{"platforms: both signed", ratify.PlatformsAll, signing{amd64: true, arm64: true}, true, 2},
		{"either: index signed", ratify.PlatformsEither, signing{index: true}, true, 0},
		{"either: both platforms signed", ratify.PlatformsEither, signing{amd64: true, arm64: true}, true, 2},
		{"either: one platform signed", ratify.PlatformsEither, signing{arm64: true}, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemStore()
			index, amd64, arm64 := multiPlatform(s)
			for d, on := range map[*ocispec.Descriptor]bool{&index: tt.signed.index, &amd64: tt.signed.amd64, &arm64: tt.signed.arm64} {
				if on {
					s.attach(*d, sigType, "pass")
				}
			}
			exec := newExecutor(t, s, map[string]string{sigType: "any"}, &verdictVerifier{name: "v", types: []string{sigType}})
			exec.PlatformMode = func(repo string) ratify.PlatformMode {
				if repo != "registry.test/app" {
					t.Errorf("platform mode asked for %q", repo)
				}
				return tt.mode
			}
			for _, ref := range []string{"registry.test/app:multi", "registry.test/app@" + index.Digest.String()} {
				res, err := exec.Verify(context.Background(), ref, ratify.VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if res.IsSuccess != tt.want || len(res.Platforms) != tt.platforms {
					t.Fatalf("%s: IsSuccess %v with %d platform results, want %v with %d: %+v", ref, res.IsSuccess, len(res.Platforms), tt.want, tt.platforms, res)
				}
				for _, p := range res.Platforms {
					want := map[string]bool{"linux/amd64": tt.signed.amd64, "linux/arm64/v8": tt.signed.arm64}
					if w, ok := want[p.Platform]; !ok || w != p.IsSuccess {
						t.Errorf("platform %s: IsSuccess %v (known %v), want %v", p.Platform, p.IsSuccess, ok, w)
					}
				}
			}
		})
	}
}

// TestPlatformIndexLimits checks a malformed index and one with too many
// platforms: errors, never verdicts.
func TestPlatformIndexLimits(t *testing.T) {
	s := newMemStore()
	bad := s.add(ocispec.MediaTypeImageIndex, "", []byte("{not json"))
	s.tags["app:bad"] = bad
	var many []ocispec.Descriptor
	for i := range ratify.MaxPlatforms + 1 {
		many = append(many, s.add(ocispec.MediaTypeImageManifest, "", []byte{byte(i), byte(i >> 8)}))
	}
	raw, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: many})
	s.tags["app:many"] = s.add(ocispec.MediaTypeImageIndex, "", raw)
	exec := newExecutor(t, s, map[string]string{sigType: "any"}, &verdictVerifier{name: "v", types: []string{sigType}})
	exec.PlatformMode = func(string) ratify.PlatformMode { return ratify.PlatformsAll }
	for tag, want := range map[string]error{"bad": errdef.ErrInvalidContent, "many": errdef.ErrSizeExceedsLimit} {
		if _, err := exec.Verify(context.Background(), "registry.test/app:"+tag, ratify.VerifyOptions{}); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", tag, err, want)
		}
	}
}
