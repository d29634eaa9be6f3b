package ratify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
)

// PlatformMode says what makes a multi-platform image (an OCI image index
// or Docker manifest list) pass.
type PlatformMode string

// Platform modes.
const (
	// PlatformsIndex: the artifacts attached to the index decide, as in
	// Ratify v1; platform manifests are not looked at.
	PlatformsIndex PlatformMode = "index"
	// PlatformsAll: every platform manifest must pass on the artifacts
	// attached to it; the index's own do not count.
	PlatformsAll PlatformMode = "platforms"
	// PlatformsEither: the index passes on its own artifacts, or else every
	// platform manifest passes on its own.
	PlatformsEither PlatformMode = "either"
)

// MaxPlatforms bounds the platform manifests of one index that are
// verified.
const MaxPlatforms = 64

// PlatformResult is the verification of one platform manifest of an index.
type PlatformResult struct {
	// Platform is "os/architecture[/variant]".
	Platform string `json:"platform"`
	// Subject is the platform manifest, repository@digest.
	Subject         string   `json:"subject"`
	IsSuccess       bool     `json:"isSuccess"`
	VerifierReports []Report `json:"verifierReports"`
}

// Media types of indexes.
const mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == mediaTypeDockerManifestList
}

// indexOutcome is what verifying an index under a platform mode found.
type indexOutcome struct {
	reports   []Report // the index's own, when verified
	platforms []PlatformResult
	ok        bool
}

// verifyIndex verifies the index subject under mode (PlatformsAll or
// PlatformsEither).
func (r *run) verifyIndex(ctx context.Context, index Subject, mode PlatformMode) (indexOutcome, error) {
	var out indexOutcome
	if mode == PlatformsEither {
		reports, ok, err := r.verifySubject(ctx, index, nil, 0)
		if err != nil {
			return out, err
		}
		out.reports, out.ok = reports, ok
		if ok {
			return out, nil // the index's own artifacts suffice
		}
	}
	manifests, err := r.platformManifests(ctx, index)
	if err != nil {
		return out, err
	}
	out.platforms = make([]PlatformResult, len(manifests))
	errs := make([]error, len(manifests))
	var wg sync.WaitGroup
	for i, m := range manifests {
		wg.Go(func() {
			s := Subject{Reference: index.Reference, Descriptor: m}
			s.Reference.Reference = m.Digest.String()
			reports, ok, err := r.verifySubject(ctx, s, nil, 0)
			out.platforms[i] = PlatformResult{Platform: platformName(m.Platform), Subject: s.String(), IsSuccess: ok, VerifierReports: reports}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	out.ok = len(manifests) > 0
	for _, p := range out.platforms {
		out.ok = out.ok && p.IsSuccess
	}
	return out, nil
}

// platformManifests reads the index and returns its platform manifests:
// attestation manifests that builders add (annotated
// vnd.docker.reference.type=attestation-manifest) are not platforms.
func (r *run) platformManifests(ctx context.Context, index Subject) ([]ocispec.Descriptor, error) {
	raw, err := r.memo.fetcher(index.Repository()).Fetch(ctx, index.Descriptor)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("index %s: %v: %w", index, err, errdef.ErrInvalidContent)
	}
	var out []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		if err := m.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("index %s: manifest %q: %v: %w", index, m.Digest, err, errdef.ErrInvalidContent)
		}
		out = append(out, m)
	}
	if len(out) > MaxPlatforms {
		return nil, fmt.Errorf("index %s lists %d platform manifests, more than %d: %w", index, len(out), MaxPlatforms, errdef.ErrSizeExceedsLimit)
	}
	return out, nil
}

func platformName(p *ocispec.Platform) string {
	if p == nil {
		return "unknown"
	}
	parts := []string{p.OS, p.Architecture}
	if p.Variant != "" {
		parts = append(parts, p.Variant)
	}
	return strings.Join(parts, "/")
}
