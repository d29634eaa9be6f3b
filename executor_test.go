package ratify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/policy/configpolicy"
)

const (
	sigType  = "application/vnd.cncf.notary.signature"
	sbomType = "application/spdx+json"
)

// memStore is an in-memory Store: manifests and blobs by digest, referrers
// by subject digest. It counts fetches per digest.
type memStore struct {
	mu        sync.Mutex
	tags      map[string]ocispec.Descriptor
	content   map[digest.Digest][]byte
	referrers map[digest.Digest][]ocispec.Descriptor
	fetches   map[digest.Digest]int
	types     map[digest.Digest]string // media type of each content
	resolves  int
	listErr   error
}

func newMemStore() *memStore {
	return &memStore{
		tags:      map[string]ocispec.Descriptor{},
		content:   map[digest.Digest][]byte{},
		referrers: map[digest.Digest][]ocispec.Descriptor{},
		fetches:   map[digest.Digest]int{},
		types:     map[digest.Digest]string{},
	}
}

// add stores content and returns its descriptor.
func (s *memStore) add(mediaType, artifactType string, content []byte) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: mediaType, ArtifactType: artifactType, Digest: digest.FromBytes(content), Size: int64(len(content))}
	s.content[d.Digest] = content
	s.types[d.Digest] = mediaType
	return d
}

// attach adds an artifact of artifactType, whose content is verdict
// ("pass" or "fail"), as a referrer of subject.
func (s *memStore) attach(subject ocispec.Descriptor, artifactType, verdict string) ocispec.Descriptor {
	d := s.add(ocispec.MediaTypeImageManifest, artifactType, fmt.Appendf(nil, "%s %s %d", verdict, subject.Digest, len(s.content)))
	s.referrers[subject.Digest] = append(s.referrers[subject.Digest], d)
	return d
}

func (s *memStore) Resolve(_ context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	s.mu.Lock()
	s.resolves++
	s.mu.Unlock()
	if d, err := ref.Digest(); err == nil {
		if c, ok := s.content[d]; ok {
			return ocispec.Descriptor{MediaType: s.types[d], Digest: d, Size: int64(len(c))}, nil
		}
	}
	if d, ok := s.tags[ref.Repository+":"+ref.Reference]; ok {
		return d, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s: %w", ref, errdef.ErrNotFound)
}

func (s *memStore) Referrers(_ context.Context, _ registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if s.listErr != nil {
		return nil, s.listErr
	}
	return s.referrers[subject.Digest], nil
}

func (s *memStore) Fetch(_ context.Context, _ registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches[desc.Digest]++
	c, ok := s.content[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return c, nil
}

// verdictVerifier passes artifacts whose content starts with "pass". It
// counts calls and the most calls in flight at once.
type verdictVerifier struct {
	name     string
	types    []string
	nested   []string
	err      error
	block    chan struct{} // when set, Verify waits on it (or on ctx)
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	calls    atomic.Int32
}

func (v *verdictVerifier) Name() string { return v.name }
func (v *verdictVerifier) Type() string { return "verdict" }
func (v *verdictVerifier) CanVerify(t string) bool {
	for _, x := range v.types {
		if x == t {
			return true
		}
	}
	return false
}
func (v *verdictVerifier) NestedReferences() []string { return v.nested }

func (v *verdictVerifier) Verify(ctx context.Context, _ ratify.Subject, a ocispec.Descriptor, f ratify.Fetcher) (ratify.Report, error) {
	v.calls.Add(1)
	n := v.inFlight.Add(1)
	defer v.inFlight.Add(-1)
	for {
		m := v.maxSeen.Load()
		if n <= m || v.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if v.block != nil {
		select {
		case <-v.block:
		case <-ctx.Done():
			return ratify.Report{}, ctx.Err()
		}
	}
	if v.err != nil {
		return ratify.Report{}, v.err
	}
	content, err := f.Fetch(ctx, a)
	if err != nil {
		return ratify.Report{}, err
	}
	if bytes.Contains(content, []byte(`"pass`)) || bytes.HasPrefix(content, []byte("pass")) {
		return ratify.Report{IsSuccess: true, Message: "ok"}, nil
	}
	return ratify.Report{IsSuccess: false, Message: "bad", ErrorReason: "content says fail"}, nil
}

func newExecutor(t *testing.T, s ratify.Store, rules map[string]string, vs ...ratify.Verifier) *ratify.Executor {
	t.Helper()
	p, err := configpolicy.New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return &ratify.Executor{Store: s, Verifiers: vs, Policy: p}
}

func image(s *memStore, tag string) ocispec.Descriptor {
	d := s.add(ocispec.MediaTypeImageManifest, "", []byte("image "+tag))
	s.tags["app:"+tag] = d
	return d
}

func TestExecutorVerdicts(t *testing.T) {
	anySig := map[string]string{sigType: "any"}
	tests := []struct {
		name     string
		rules    map[string]string
		attach   [][2]string // artifact type, verdict
		want     bool
		nReports int
	}{
		{"one good signature", anySig, [][2]string{{sigType, "pass"}}, true, 1},
		{"unsigned", anySig, nil, false, 0},
		{"one bad signature", anySig, [][2]string{{sigType, "fail"}}, false, 1},
		{"one of two signatures good, any", anySig, [][2]string{{sigType, "fail"}, {sigType, "pass"}}, true, 2},
		{"one of two signatures good, all", map[string]string{sigType: "all"}, [][2]string{{sigType, "pass"}, {sigType, "fail"}}, false, 2},
		{"required sbom missing", map[string]string{sigType: "any", sbomType: "any"}, [][2]string{{sigType, "pass"}}, false, 1},
		{"required sbom present", map[string]string{sigType: "any", sbomType: "any"}, [][2]string{{sigType, "pass"}, {sbomType, "pass"}}, true, 2},
		{"unlisted type fails under default all", anySig, [][2]string{{sigType, "pass"}, {sbomType, "fail"}}, false, 2},
		{"unlisted type under default any needs one success", map[string]string{sigType: "any", "default": "any"}, [][2]string{{sigType, "pass"}, {sbomType, "fail"}}, false, 2},
		{"artifact without verifier yields no report", anySig, [][2]string{{sigType, "pass"}, {"application/unknown", "fail"}}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemStore()
			subject := image(s, "v1")
			for _, a := range tt.attach {
				s.attach(subject, a[0], a[1])
			}
			v := &verdictVerifier{name: "v", types: []string{sigType, sbomType}}
			res, err := newExecutor(t, s, tt.rules, v).Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{TraceID: "t1"})
			if err != nil {
				t.Fatal(err)
			}
			if res.IsSuccess != tt.want || len(res.VerifierReports) != tt.nReports {
				t.Fatalf("IsSuccess = %v with %d reports, want %v with %d: %+v", res.IsSuccess, len(res.VerifierReports), tt.want, tt.nReports, res)
			}
			if res.Version != ratify.ResultVersion || res.TraceID != "t1" || res.Timestamp.IsZero() {
				t.Errorf("result header = %q %q %v", res.Version, res.TraceID, res.Timestamp)
			}
			for _, r := range res.VerifierReports {
				if r.Subject != "registry.test/app@"+subject.Digest.String() || r.VerifierName != "v" || r.ReferenceDigest == "" || r.ArtifactType == "" {
					t.Errorf("report fields not filled: %+v", r)
				}
			}
		})
	}
}

func TestExecutorArtifactTypeFilter(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	s.attach(subject, sigType, "pass")
	s.attach(subject, sbomType, "fail")
	v := &verdictVerifier{name: "v", types: []string{sigType, sbomType}}
	res, err := newExecutor(t, s, map[string]string{sigType: "any"}, v).Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{ArtifactTypes: []string{sigType}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsSuccess || len(res.VerifierReports) != 1 || res.VerifierReports[0].ArtifactType != sigType {
		t.Fatalf("filtered result = %+v", res)
	}
}

func TestExecutorNested(t *testing.T) {
	for _, nestedVerdict := range []string{"pass", "fail"} {
		t.Run(nestedVerdict, func(t *testing.T) {
			s := newMemStore()
			subject := image(s, "v1")
			s.attach(subject, sigType, "pass")
			sbom := s.attach(subject, sbomType, "pass")
			s.attach(sbom, sigType, nestedVerdict)
			sigV := &verdictVerifier{name: "sig", types: []string{sigType}}
			sbomV := &verdictVerifier{name: "sbom", types: []string{sbomType}, nested: []string{sigType}}
			res, err := newExecutor(t, s, map[string]string{sigType: "any", sbomType: "any"}, sigV, sbomV).Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := nestedVerdict == "pass"; res.IsSuccess != want {
				t.Fatalf("IsSuccess = %v, want %v: %+v", res.IsSuccess, want, res)
			}
			var sbomReport ratify.Report
			for _, r := range res.VerifierReports {
				if r.ArtifactType == sbomType {
					sbomReport = r
				}
			}
			if len(sbomReport.NestedResults) != 1 || sbomReport.NestedResults[0].Subject != "registry.test/app@"+sbom.Digest.String() {
				t.Fatalf("nested results = %+v", sbomReport.NestedResults)
			}
		})
	}
}

func TestExecutorNestingLimit(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	parent := subject
	for range 5 {
		parent = s.attach(parent, sbomType, "pass")
	}
	v := &verdictVerifier{name: "sbom", types: []string{sbomType}, nested: []string{sbomType}}
	e := newExecutor(t, s, map[string]string{sbomType: "any"}, v)
	e.MaxNestingDepth = 2
	_, err := e.Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{})
	if !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		t.Fatalf("err = %v, want ErrSizeExceedsLimit", err)
	}
}

func TestExecutorCouldNotVerify(t *testing.T) {
	errVerifier := errors.New("verifier broke")
	tests := []struct {
		name    string
		ref     string
		listErr error
		vErr    error
		want    error
	}{
		{"malformed reference", "registry.test/App:v1", nil, nil, errdef.ErrInvalidReference},
		{"unknown tag", "registry.test/app:v9", nil, nil, errdef.ErrNotFound},
		{"registry down while listing", "registry.test/app:v1", fmt.Errorf("list: %w", errdef.ErrRegistryUnavailable), nil, errdef.ErrRegistryUnavailable},
		{"verifier error", "registry.test/app:v1", nil, errVerifier, errVerifier},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemStore()
			s.attach(image(s, "v1"), sigType, "pass")
			s.listErr = tt.listErr
			v := &verdictVerifier{name: "v", types: []string{sigType}, err: tt.vErr}
			res, err := newExecutor(t, s, map[string]string{sigType: "any"}, v).Verify(context.Background(), tt.ref, ratify.VerifyOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if res.IsSuccess {
				t.Fatal("a verification that could not run passed")
			}
		})
	}
}

func TestExecutorDeadline(t *testing.T) {
	s := newMemStore()
	s.attach(image(s, "v1"), sigType, "pass")
	v := &verdictVerifier{name: "v", types: []string{sigType}, block: make(chan struct{})}
	e := newExecutor(t, s, map[string]string{sigType: "any"}, v)
	e.Timeout = 50 * time.Millisecond // the verifier never returns on its own
	_, err := e.Verify(context.Background(), "registry.test/app:v1", ratify.VerifyOptions{})
	if !errors.Is(err, errdef.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout wrapping DeadlineExceeded", err)
	}
}

func TestExecutorFetchesOnceAndBoundsConcurrency(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	var sigs []ocispec.Descriptor
	for range 20 {
		sigs = append(sigs, s.attach(subject, sigType, "pass"))
	}
	// Two verifiers of the same type read the same artifacts.
	v1 := &verdictVerifier{name: "a", types: []string{sigType}}
	v2 := &verdictVerifier{name: "b", types: []string{sigType}}
	e := newExecutor(t, s, map[string]string{sigType: "all"}, v1, v2)
	e.Concurrency = 3
	res, err := e.Verify(context.Background(), "registry.test/app@"+subject.Digest.String(), ratify.VerifyOptions{})
	if err != nil || !res.IsSuccess || len(res.VerifierReports) != 40 {
		t.Fatalf("res = %v reports, %v; err = %v", len(res.VerifierReports), res.IsSuccess, err)
	}
	for _, d := range sigs {
		if n := s.fetches[d.Digest]; n != 1 {
			t.Errorf("artifact %s fetched %d times, want 1", d.Digest, n)
		}
	}
	if m := max(v1.maxSeen.Load(), v2.maxSeen.Load()); m > 3 {
		t.Errorf("%d verifier calls ran at once, bound is 3", m)
	}
}

func TestParseReference(t *testing.T) {
	d := "sha256:" + fmt.Sprintf("%064x", 1)
	tests := []struct {
		in, registry, repo, ref string
		err                     error
	}{
		{"nginx", "docker.io", "library/nginx", "latest", nil},
		{"bitnami/redis:7", "docker.io", "bitnami/redis", "7", nil},
		{"localhost:5000/app:v1", "localhost:5000", "app", "v1", nil},
		{"127.0.0.1:5000/a/b@" + d, "127.0.0.1:5000", "a/b", d, nil},
		{"registry.example/app:v1@" + d, "registry.example", "app", d, nil},
		{"", "", "", "", errdef.ErrInvalidReference},
		{"registry.example/UPPER:v1", "", "", "", errdef.ErrInvalidReference},
		{"registry.example/app@sha256:abc", "", "", "", errdef.ErrInvalidReference},
		{"registry.example/app v1", "", "", "", errdef.ErrInvalidReference},
		{"registry.example/app:" + string(make([]byte, 2000)), "", "", "", errdef.ErrInvalidReference},
	}
	for _, tt := range tests {
		ref, err := ratify.ParseReference(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("ParseReference(%.40q) err = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && (ref.Registry != tt.registry || ref.Repository != tt.repo || ref.Reference != tt.ref) {
			t.Errorf("ParseReference(%q) = %+v", tt.in, ref)
		}
	}
}

// attachManifest attaches an artifact whose manifest names subject in its
// subject field, as OCI image-spec v1.1 referrers do.
func (s *memStore) attachManifest(subject ocispec.Descriptor, artifactType, verdict string) ocispec.Descriptor {
	m, _ := json.Marshal(ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Subject:      &subject,
		Annotations:  map[string]string{"verdict": verdict},
	})
	d := s.add(ocispec.MediaTypeImageManifest, artifactType, m)
	s.referrers[subject.Digest] = append(s.referrers[subject.Digest], d)
	return d
}

// subjectRecorder records the subject descriptors it is asked to verify.
type subjectRecorder struct {
	verdictVerifier
	mu   sync.Mutex
	seen []ocispec.Descriptor
}

func (v *subjectRecorder) Verify(ctx context.Context, s ratify.Subject, a ocispec.Descriptor, f ratify.Fetcher) (ratify.Report, error) {
	v.mu.Lock()
	v.seen = append(v.seen, s.Descriptor)
	v.mu.Unlock()
	return v.verdictVerifier.Verify(ctx, s, a, f)
}

func TestExecutorDigestReferenceNeedsNoResolve(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	s.attachManifest(subject, sigType, "pass")
	v := &subjectRecorder{verdictVerifier: verdictVerifier{name: "v", types: []string{sigType}}}
	res, err := newExecutor(t, s, map[string]string{sigType: "any"}, v).Verify(context.Background(), "registry.test/app@"+subject.Digest.String(), ratify.VerifyOptions{})
	if err != nil || !res.IsSuccess {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	if s.resolves != 0 {
		t.Errorf("%d resolves for a digest reference whose referrer names its subject, want 0", s.resolves)
	}
	if len(v.seen) != 1 || v.seen[0].MediaType != subject.MediaType || v.seen[0].Size != subject.Size || v.seen[0].Digest != subject.Digest {
		t.Errorf("verifier saw subject %+v, want %+v", v.seen, subject)
	}
}

func TestExecutorDigestReferenceFallsBackToResolve(t *testing.T) {
	s := newMemStore()
	subject := image(s, "v1")
	other := image(s, "v2")
	s.attachManifest(other, sigType, "pass") // names another subject
	s.referrers[subject.Digest] = s.referrers[other.Digest]
	v := &subjectRecorder{verdictVerifier: verdictVerifier{name: "v", types: []string{sigType}}}
	_, err := newExecutor(t, s, map[string]string{sigType: "any"}, v).Verify(context.Background(), "registry.test/app@"+subject.Digest.String(), ratify.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.resolves != 1 || len(v.seen) != 1 || v.seen[0].Size != subject.Size {
		t.Errorf("resolves = %d, verifier saw %+v; want the resolved subject %+v", s.resolves, v.seen, subject)
	}
}

func TestExecutorUnknownDigest(t *testing.T) {
	s := newMemStore()
	v := &verdictVerifier{name: "v", types: []string{sigType}}
	missing := digest.FromString("nothing here")
	_, err := newExecutor(t, s, map[string]string{sigType: "any"}, v).Verify(context.Background(), "registry.test/app@"+missing.String(), ratify.VerifyOptions{})
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
