package testregistry

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const sigType = "application/vnd.cncf.notary.signature"

// get does a GET of path on r and returns the status, headers and body.
func get(t *testing.T, r *Registry, path string) (int, http.Header, []byte) {
	t.Helper()
	scheme := "http://"
	if r.opts.TLS {
		scheme = "https://"
	}
	resp, err := r.Client().Get(scheme + r.Host() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func pushSigned(t *testing.T, r *Registry, repo string) (subject, sig ocispec.Descriptor) {
	t.Helper()
	subject = r.PushImage(t, repo, "v1")
	sig, _ = r.PushArtifact(t, repo, Artifact{
		ArtifactType:   sigType,
		Subject:        &subject,
		LayerMediaType: "application/jose+json",
		Layer:          []byte(`{"payload":"x"}`),
		Annotations:    map[string]string{"io.cncf.notary.x509chain.thumbprint#S256": "[]"},
	})
	return subject, sig
}

// TestBackends proves which backend serves the referrers API and which one
// leaves clients to the referrers tag schema.
func TestBackends(t *testing.T) {
	for _, tc := range []struct {
		name          string
		referrers     bool
		wantAPIStatus int
		wantTagSchema bool
	}{
		{"ggcr serves referrers API", true, http.StatusOK, false},
		{"distribution has no referrers API", false, http.StatusNotFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(t, Options{Referrers: tc.referrers})
			subject, sig := pushSigned(t, r, "app")

			status, header, body := get(t, r, "/v2/app/referrers/"+subject.Digest.String())
			if status != tc.wantAPIStatus {
				t.Fatalf("referrers API status = %d, want %d (%s)", status, tc.wantAPIStatus, body)
			}
			if status == http.StatusOK {
				if ct := header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
					t.Errorf("Content-Type = %q", ct)
				}
				var index ocispec.Index
				if err := json.Unmarshal(body, &index); err != nil {
					t.Fatal(err)
				}
				if len(index.Manifests) != 1 || index.Manifests[0].Digest != sig.Digest {
					t.Fatalf("referrers = %+v, want %s", index.Manifests, sig.Digest)
				}
				// The fix: artifactType from the manifest, not its empty config.
				if got := index.Manifests[0].ArtifactType; got != sigType {
					t.Errorf("artifactType = %q, want %q", got, sigType)
				}
				if got := index.Manifests[0].Annotations; len(got) != 1 {
					t.Errorf("annotations = %v", got)
				}
			}
			tag := "sha256-" + subject.Digest.Encoded()
			status, _, _ = get(t, r, "/v2/app/manifests/"+tag)
			if got := status == http.StatusOK; got != tc.wantTagSchema {
				t.Errorf("referrers tag %s exists = %v, want %v", tag, got, tc.wantTagSchema)
			}
		})
	}
}

func TestReferrersFilterAndPaging(t *testing.T) {
	r := New(t, Options{Referrers: true, ReferrersPageSize: 2})
	subject := r.PushImage(t, "app", "v1")
	for i, at := range []string{sigType, sigType, "application/spdx+json", sigType, "application/sarif+json"} {
		r.PushArtifact(t, "app", Artifact{ArtifactType: at, Subject: &subject, LayerMediaType: "application/octet-stream", Layer: []byte{byte(i)}})
	}
	list := func(query string) (all []ocispec.Descriptor, pages int, filtered bool) {
		path := "/v2/app/referrers/" + subject.Digest.String() + query
		for path != "" {
			status, header, body := get(t, r, path)
			if status != http.StatusOK {
				t.Fatalf("GET %s = %d", path, status)
			}
			var index ocispec.Index
			if err := json.Unmarshal(body, &index); err != nil {
				t.Fatal(err)
			}
			all = append(all, index.Manifests...)
			pages++
			filtered = header.Get("OCI-Filters-Applied") == "artifactType"
			path = ""
			if link := header.Get("Link"); link != "" {
				path = link[1:strings.IndexByte(link, '>')]
			}
		}
		return all, pages, filtered
	}
	for _, tc := range []struct {
		query        string
		want, pages  int
		wantFiltered bool
	}{
		{"", 5, 3, false},
		{"?n=4", 5, 2, false},
		{"?artifactType=" + sigType, 3, 2, true},
	} {
		got, pages, filtered := list(tc.query)
		if len(got) != tc.want || pages != tc.pages || filtered != tc.wantFiltered {
			t.Errorf("%q: %d referrers in %d pages (filtered %v), want %d in %d (%v)", tc.query, len(got), pages, filtered, tc.want, tc.pages, tc.wantFiltered)
		}
		seen := map[string]bool{}
		for _, d := range got {
			if seen[d.Digest.String()] {
				t.Errorf("%q: %s listed twice", tc.query, d.Digest)
			}
			seen[d.Digest.String()] = true
		}
	}
}

func TestCountsAndFaults(t *testing.T) {
	r := New(t, Options{Referrers: true})
	subject := r.PushImage(t, "app", "v1")
	r.Reset()
	if r.Total() != 0 {
		t.Fatalf("Total after Reset = %d", r.Total())
	}

	r.Inject(Fault{Method: http.MethodGet, Kind: KindManifest, Times: 2, Status: http.StatusTooManyRequests, RetryAfter: "7"})
	r.Inject(Fault{Kind: KindBlob, Body: []byte("garbage")})
	path := "/v2/app/manifests/" + subject.Digest.String()
	for i, want := range []int{429, 429, 200} {
		status, header, _ := get(t, r, path)
		if status != want {
			t.Fatalf("request %d: status %d, want %d", i, status, want)
		}
		if want == 429 && header.Get("Retry-After") != "7" {
			t.Errorf("Retry-After = %q", header.Get("Retry-After"))
		}
	}
	if _, _, body := get(t, r, "/v2/app/blobs/sha256:"+strings.Repeat("0", 64)); string(body) != "garbage" {
		t.Errorf("blob body = %q", body)
	}
	r.ClearFaults()
	if status, _, _ := get(t, r, "/v2/app/blobs/sha256:"+strings.Repeat("0", 64)); status != http.StatusNotFound {
		t.Errorf("after ClearFaults: status %d", status)
	}
	get(t, r, "/v2/app/referrers/"+subject.Digest.String())
	get(t, r, "/v2/app/tags/list")

	want := map[string]int{"GET manifest": 3, "GET blob": 2, "GET referrers": 1, "GET tags": 1}
	for k, n := range want {
		method, kind, _ := strings.Cut(k, " ")
		if got := r.Count(method, Kind(kind)); got != n {
			t.Errorf("Count(%s) = %d, want %d", k, got, n)
		}
	}
	if r.Total() != 7 {
		t.Errorf("Total = %d, want 7 (%v)", r.Total(), r.Counts())
	}
}

func TestBasicAuthAndTLS(t *testing.T) {
	r := New(t, Options{TLS: true, Username: "alice", Password: "s3cret"})
	r.PushImage(t, "app", "v1") // the helper authenticates
	status, header, _ := get(t, r, "/v2/app/manifests/v1")
	if status != http.StatusUnauthorized || !strings.HasPrefix(header.Get("Www-Authenticate"), "Basic") {
		t.Errorf("anonymous GET = %d %q, want 401 with a Basic challenge", status, header.Get("Www-Authenticate"))
	}
	if r.CAFile(t) == "" {
		t.Error("no CA file")
	}
}

func TestClassify(t *testing.T) {
	for path, want := range map[string]Kind{
		"/v2/":                      KindOther,
		"/v2/a/b/manifests/v1":      KindManifest,
		"/v2/a/blobs/sha256:00":     KindBlob,
		"/v2/a/blobs/uploads/":      KindUpload,
		"/v2/a/blobs/uploads/1234":  KindUpload,
		"/v2/a/referrers/sha256:00": KindReferrers,
		"/v2/a/tags/list":           KindTags,
		"/token":                    KindOther,
	} {
		if got, _ := classify(path); got != want {
			t.Errorf("classify(%q) = %q, want %q", path, got, want)
		}
	}
}
