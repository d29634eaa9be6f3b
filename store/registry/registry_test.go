package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
)

var _ ratify.Store = (*Store)(nil)

const notationType = "application/vnd.cncf.notary.signature"

// backends are the two test registries every referrers test runs against.
var backends = []struct {
	name      string
	referrers bool
}{
	{"referrers API", true},
	{"tag schema fallback", false},
}

// newStore returns a Store for plain-HTTP test registries that retries
// quickly.
func newStore(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.PlainHTTP = true
	if opts.RetryMinWait == 0 {
		opts.RetryMinWait = time.Millisecond
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signed pushes an image and n notation-like signatures on it.
func signed(t *testing.T, r *testregistry.Registry, repo string, n int) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	subject := r.PushImage(t, repo, "v1")
	var sigs []ocispec.Descriptor
	for i := range n {
		sig, _ := r.PushArtifact(t, repo, testregistry.Artifact{
			ArtifactType:   notationType,
			Subject:        &subject,
			LayerMediaType: "application/jose+json",
			Layer:          []byte(`{"payload":"` + strings.Repeat("x", i+1) + `"}`),
		})
		sigs = append(sigs, sig)
	}
	return subject, sigs
}

func digests(descs []ocispec.Descriptor) map[string]string {
	m := make(map[string]string, len(descs))
	for _, d := range descs {
		m[d.Digest.String()] = d.ArtifactType
	}
	return m
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func TestResolve(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testregistry.New(t, testregistry.Options{Referrers: b.referrers})
			image := r.PushImage(t, "app", "v1")
			s := newStore(t, Options{})
			for _, tc := range []struct {
				name string
				ref  registry.Reference
				want error
			}{
				{"tag", r.Reference("app", "v1"), nil},
				{"digest", r.Reference("app", image.Digest.String()), nil},
				{"unknown tag", r.Reference("app", "v2"), errdef.ErrNotFound},
				{"unknown repository", r.Reference("nothere", "v1"), errdef.ErrNotFound},
				{"no reference", r.Reference("app", ""), errdef.ErrInvalidReference},
				{"bad repository", r.Reference("UPPER", "v1"), errdef.ErrInvalidReference},
			} {
				t.Run(tc.name, func(t *testing.T) {
					desc, err := s.Resolve(context.Background(), tc.ref)
					wantErr(t, err, tc.want)
					if tc.want == nil && (desc.Digest != image.Digest || desc.Size != image.Size || desc.MediaType != image.MediaType) {
						t.Errorf("Resolve = %+v, want %+v", desc, image)
					}
					if tc.want != nil && !strings.Contains(err.Error(), tc.ref.Registry) {
						t.Errorf("error %q does not name the registry", err)
					}
				})
			}
		})
	}
}

// TestReferrers lists referrers through the API and through the tag schema,
// and proves by the registry's counts which path each took.
func TestReferrers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testregistry.New(t, testregistry.Options{Referrers: b.referrers})
			subject, sigs := signed(t, r, "app", 2)
			unsigned := r.PushImage(t, "app", "unsigned")
			s := newStore(t, Options{})
			ref := r.Reference("app", "")
			r.Reset()

			got, err := s.Referrers(context.Background(), ref, subject)
			wantErr(t, err, nil)
			if want := digests(sigs); len(got) != len(want) || !mapsEqual(digests(got), want) {
				t.Fatalf("Referrers = %v, want %v", digests(got), want)
			}
			wantCounts := map[string]int{"GET referrers": 1}
			if !b.referrers {
				// The API answered 404, then the sha256-<hex> tag was read.
				wantCounts["GET manifest"] = 1
			}
			if got := r.Counts(); !mapsEqual(got, wantCounts) {
				t.Errorf("requests = %v, want %v", got, wantCounts)
			}

			// The store remembers what the registry supports.
			r.Reset()
			got, err = s.Referrers(context.Background(), ref, unsigned)
			wantErr(t, err, nil)
			if len(got) != 0 {
				t.Errorf("Referrers(unsigned) = %v, want none", got)
			}
			wantCounts = map[string]int{"GET referrers": 1}
			if !b.referrers {
				wantCounts = map[string]int{"GET manifest": 1}
			}
			if got := r.Counts(); !mapsEqual(got, wantCounts) {
				t.Errorf("second listing: requests = %v, want %v", got, wantCounts)
			}
		})
	}
}

func TestReferrersPagingAndLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		serverPage int
		opts       Options
		want       error
		wantPages  int
	}{
		{"client page size", 0, Options{ReferrersPageSize: 2}, nil, 3},
		{"server page size", 2, Options{}, nil, 3},
		{"one page", 0, Options{}, nil, 1},
		{"limit stops paging", 0, Options{ReferrersPageSize: 2, MaxReferrers: 3}, errdef.ErrSizeExceedsLimit, 2},
		{"limit on one page", 0, Options{MaxReferrers: 4}, errdef.ErrSizeExceedsLimit, 1},
		{"exactly the limit", 0, Options{MaxReferrers: 5}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testregistry.New(t, testregistry.Options{Referrers: true, ReferrersPageSize: tc.serverPage})
			subject, sigs := signed(t, r, "app", 5)
			s := newStore(t, tc.opts)
			r.Reset()
			got, err := s.Referrers(context.Background(), r.Reference("app", ""), subject)
			wantErr(t, err, tc.want)
			if tc.want == nil && !mapsEqual(digests(got), digests(sigs)) {
				t.Errorf("Referrers = %v, want %v", digests(got), digests(sigs))
			}
			if tc.want != nil && !strings.Contains(err.Error(), "more than") {
				t.Errorf("error %q does not name the limit", err)
			}
			if n := r.Count(http.MethodGet, testregistry.KindReferrers); n != tc.wantPages {
				t.Errorf("%d referrers requests, want %d", n, tc.wantPages)
			}
		})
	}
	t.Run("tag schema over the limit", func(t *testing.T) {
		r := testregistry.New(t, testregistry.Options{})
		subject, _ := signed(t, r, "app", 3)
		_, err := newStore(t, Options{MaxReferrers: 2}).Referrers(context.Background(), r.Reference("app", ""), subject)
		wantErr(t, err, errdef.ErrSizeExceedsLimit)
	})
}

func TestCosignTag(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testregistry.New(t, testregistry.Options{Referrers: b.referrers})
			subject, sigs := signed(t, r, "app", 1)
			unsigned := r.PushImage(t, "app", "plain")
			cosign, _ := r.PushArtifact(t, "app", testregistry.Artifact{
				Tag:            "sha256-" + subject.Digest.Encoded() + ".sig",
				LayerMediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
				Layer:          []byte(`{"critical":{}}`),
			})
			ref := r.Reference("app", "")
			for _, tc := range []struct {
				name    string
				enabled bool
				subject ocispec.Descriptor
				fault   *testregistry.Fault
				want    map[string]string
				wantErr error
			}{
				{"disabled", false, subject, nil, digests(sigs), nil},
				{"enabled", true, subject, nil, map[string]string{sigs[0].Digest.String(): notationType, cosign.Digest.String(): CosignArtifactType}, nil},
				{"enabled, no signature", true, unsigned, nil, map[string]string{}, nil},
				{"enabled, registry failing", true, subject, &testregistry.Fault{Method: http.MethodHead, Kind: testregistry.KindManifest, Status: http.StatusServiceUnavailable}, nil, errdef.ErrRegistryUnavailable},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r.ClearFaults()
					if tc.fault != nil {
						r.Inject(*tc.fault)
					}
					s := newStore(t, Options{CosignEnabled: tc.enabled})
					r.Reset()
					got, err := s.Referrers(context.Background(), ref, tc.subject)
					wantErr(t, err, tc.wantErr)
					if tc.wantErr == nil && !mapsEqual(digests(got), tc.want) {
						t.Errorf("Referrers = %v, want %v", digests(got), tc.want)
					}
					if tc.wantErr != nil && got != nil {
						t.Errorf("Referrers returned %v with the error", digests(got))
					}
					wantHeads := 0
					if tc.enabled {
						wantHeads = 1
						if tc.fault != nil {
							wantHeads = 1 + DefaultMaxRetries
						}
					}
					if n := r.Count(http.MethodHead, testregistry.KindManifest); n != wantHeads {
						t.Errorf("%d HEAD manifest requests, want %d", n, wantHeads)
					}
				})
			}
		})
	}
}

// TestReferrersUnavailable: a registry that fails while listing referrers is
// an error, never "no referrers".
func TestReferrersUnavailable(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testregistry.New(t, testregistry.Options{Referrers: b.referrers})
			subject, _ := signed(t, r, "app", 1)
			s := newStore(t, Options{})
			ref := r.Reference("app", "")
			if !b.referrers {
				// Let the store learn that the registry has no API first.
				if _, err := s.Referrers(context.Background(), ref, subject); err != nil {
					t.Fatal(err)
				}
			}
			for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusTooManyRequests} {
				r.ClearFaults()
				r.Inject(testregistry.Fault{Method: http.MethodGet, Status: status})
				got, err := s.Referrers(context.Background(), ref, subject)
				wantErr(t, err, errdef.ErrRegistryUnavailable)
				if got != nil {
					t.Errorf("%d: Referrers returned %v with the error", status, got)
				}
				if !strings.Contains(err.Error(), subject.Digest.String()) {
					t.Errorf("error %q does not name the subject", err)
				}
			}
		})
	}
}

// TestRoundTrip verifies the requests of a cold verification: resolve the
// tag, list referrers, fetch the signature manifest and its blob.
func TestRoundTrip(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			r := testregistry.New(t, testregistry.Options{Referrers: b.referrers})
			subject, sigs := signed(t, r, "app", 1)
			s := newStore(t, Options{})
			r.Reset()
			ctx := context.Background()

			desc, err := s.Resolve(ctx, r.Reference("app", "v1"))
			wantErr(t, err, nil)
			if desc.Digest != subject.Digest {
				t.Fatalf("Resolve = %s, want %s", desc.Digest, subject.Digest)
			}
			refs, err := s.Referrers(ctx, r.Reference("app", ""), desc)
			wantErr(t, err, nil)
			if len(refs) != 1 || refs[0].Digest != sigs[0].Digest || refs[0].ArtifactType != notationType {
				t.Fatalf("Referrers = %+v", refs)
			}
			data, err := s.Fetch(ctx, r.Reference("app", ""), refs[0])
			wantErr(t, err, nil)
			var m ocispec.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			blob, err := s.Fetch(ctx, r.Reference("app", ""), m.Layers[0])
			wantErr(t, err, nil)
			if string(blob) != `{"payload":"x"}` {
				t.Errorf("blob = %q", blob)
			}

			want := map[string]int{"HEAD manifest": 1, "GET referrers": 1, "GET manifest": 1, "GET blob": 1}
			if !b.referrers {
				want["GET manifest"]++ // the sha256-<hex> index
			}
			if got := r.Counts(); !mapsEqual(got, want) {
				t.Errorf("requests = %v, want %v", got, want)
			}
			t.Logf("cold verification: %d requests %v", r.Total(), r.Counts())
		})
	}
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func refOf(host, repo, reference string) registry.Reference {
	return registry.Reference{Registry: host, Repository: repo, Reference: reference}
}

// TestConcurrentUse shares one Store between goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{})
	subject, sigs := signed(t, r, "app", 2)
	s := newStore(t, Options{CosignEnabled: true})
	ref := r.Reference("app", "")
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			refs, err := s.Referrers(context.Background(), ref, subject)
			if err == nil && len(refs) != len(sigs) {
				err = errors.New("wrong referrers")
			}
			if err == nil {
				_, err = s.Fetch(context.Background(), ref, refs[0])
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
