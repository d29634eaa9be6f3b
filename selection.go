package ratify

import (
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ArtifactSelection narrows the referrers of one artifact type that are
// verified, so that years of old vulnerability reports do not decide
// today's admission: only those whose annotations match, and of those the
// newest.
type ArtifactSelection struct {
	// Annotations, when set, keeps only referrers whose descriptor carries
	// every one of these annotations with exactly this value (the
	// referrers API lists each manifest's annotations).
	Annotations map[string]string
	// Newest, when positive, keeps only this many referrers, newest first
	// by their "org.opencontainers.image.created" annotation (RFC 3339);
	// referrers without a readable one count as the oldest, in listing
	// order.
	Newest int
}

// selectFrom returns the referrers (all of one artifact type) that s
// keeps, in their listing order.
func (s ArtifactSelection) selectFrom(referrers []ocispec.Descriptor) []ocispec.Descriptor {
	var kept []ocispec.Descriptor
	for _, d := range referrers {
		if s.matches(d) {
			kept = append(kept, d)
		}
	}
	if s.Newest <= 0 || len(kept) <= s.Newest {
		return kept
	}
	order := make([]int, len(kept))
	for i := range order {
		order[i] = i
	}
	created := func(i int) time.Time {
		t, _ := time.Parse(time.RFC3339, kept[i].Annotations[ocispec.AnnotationCreated])
		return t
	}
	slices.SortStableFunc(order, func(a, b int) int { return created(b).Compare(created(a)) })
	order = order[:s.Newest]
	slices.Sort(order)
	out := make([]ocispec.Descriptor, len(order))
	for i, j := range order {
		out[i] = kept[j]
	}
	return out
}

func (s ArtifactSelection) matches(d ocispec.Descriptor) bool {
	for k, v := range s.Annotations {
		if got, ok := d.Annotations[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// selectReferrers applies the selections by artifact type; types without a
// selection keep all their referrers. The listing order is kept.
func selectReferrers(referrers []ocispec.Descriptor, selections map[string]ArtifactSelection) []ocispec.Descriptor {
	if len(selections) == 0 {
		return referrers
	}
	byType := map[string][]ocispec.Descriptor{}
	for _, d := range referrers {
		byType[d.ArtifactType] = append(byType[d.ArtifactType], d)
	}
	keep := map[string]bool{}
	for typ, ds := range byType {
		sel, ok := selections[typ]
		if !ok {
			for _, d := range ds {
				keep[string(d.Digest)] = true
			}
			continue
		}
		for _, d := range sel.selectFrom(ds) {
			keep[string(d.Digest)] = true
		}
	}
	out := make([]ocispec.Descriptor, 0, len(referrers))
	for _, d := range referrers {
		if keep[string(d.Digest)] {
			out = append(out, d)
		}
	}
	return out
}
