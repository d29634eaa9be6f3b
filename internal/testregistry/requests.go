package testregistry

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
)

// Kind is the kind of registry endpoint a request is for, by the paths of
// the OCI distribution-spec v1.1 ("end-1" to "end-13").
type Kind string

// Kinds of endpoints.
const (
	KindManifest  Kind = "manifest"  // /v2/<name>/manifests/<reference>
	KindBlob      Kind = "blob"      // /v2/<name>/blobs/<digest>
	KindUpload    Kind = "upload"    // /v2/<name>/blobs/uploads/...
	KindReferrers Kind = "referrers" // /v2/<name>/referrers/<digest>
	KindTags      Kind = "tags"      // /v2/<name>/tags/list
	KindOther     Kind = "other"     // /v2/ and anything else
)

// classify returns the kind of endpoint path names and the last element of
// the path (the tag or digest of manifests, blobs and referrers).
func classify(path string) (Kind, string) {
	elems := strings.Split(strings.Trim(path, "/"), "/")
	n := len(elems)
	switch {
	case n < 3 || elems[0] != "v2":
		return KindOther, ""
	case elems[n-2] == "tags" && elems[n-1] == "list":
		return KindTags, ""
	case elems[n-2] == "manifests":
		return KindManifest, elems[n-1]
	case elems[n-2] == "referrers":
		return KindReferrers, elems[n-1]
	case elems[n-1] == "uploads" || elems[n-2] == "uploads":
		return KindUpload, ""
	case elems[n-2] == "blobs":
		return KindBlob, elems[n-1]
	}
	return KindOther, ""
}

// Count returns how many requests of method ("GET", "HEAD", ...) for kind the
// registry received since it started or was last Reset. Requests refused
// for authentication or answered by an injected fault count too.
func (r *Registry) Count(method string, kind Kind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[method+" "+string(kind)]
}

// Total returns how many requests the registry received since it started
// or was last Reset.
func (r *Registry) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Counts returns the request counts by "METHOD kind" ("GET manifest").
func (r *Registry) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		m[k] = v
	}
	return m
}

// Reset sets the request counts and the Stats of the conditions to zero.
func (r *Registry) Reset() {
	r.cond.reset()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total = 0
	clear(r.counts)
}

// Fault makes the registry answer matching requests itself instead of
// serving them: with an error status (429 with Retry-After, 503) or with a
// body of its choosing (garbage, an oversized manifest).
type Fault struct {
	// Method, Kind and Reference select requests; empty fields match any.
	// Reference is the tag or digest at the end of the path.
	Method    string
	Kind      Kind
	Reference string
	// Times is how many matching requests get the fault; zero means all.
	Times int

	// Status is the response status; zero means 200.
	Status int
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
	// Header holds more response headers (Content-Type, Docker-Content-Digest).
	Header http.Header
	// Body is the response body. Content-Length is set to its length.
	Body []byte
}

// Inject adds a fault. Faults are tried in the order they were injected;
// the first that matches a request answers it.
func (r *Registry) Inject(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &f)
}

// ClearFaults removes every injected fault.
func (r *Registry) ClearFaults() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = nil
}

// serve wraps h with request counting, conditions, authentication and
// fault injection.
func (r *Registry) serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		kind, ref := classify(req.URL.Path)
		r.mu.Lock()
		r.total++
		r.counts[req.Method+" "+string(kind)]++
		r.mu.Unlock()

		latency := r.cond.enter()
		defer r.cond.leave()
		if !r.cond.impose(w, req, req.Method+" "+string(kind), latency) {
			return
		}

		if !r.authorized(req) {
			w.Header().Set("Www-Authenticate", `Basic realm="testregistry"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		if f := r.fault(req.Method, kind, ref); f != nil {
			f.write(w)
			return
		}
		h.ServeHTTP(w, req)
	})
}

func (r *Registry) authorized(req *http.Request) bool {
	if r.opts.Username == "" && r.opts.Password == "" {
		return true
	}
	user, pass, ok := req.BasicAuth()
	return ok &&
		subtle.ConstantTimeCompare([]byte(user), []byte(r.opts.Username)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(r.opts.Password)) == 1
}

// fault returns the first fault that matches the request and uses it up.
func (r *Registry) fault(method string, kind Kind, ref string) *Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.faults {
		if (f.Method != "" && f.Method != method) || (f.Kind != "" && f.Kind != kind) ||
			(f.Reference != "" && f.Reference != ref) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				r.faults = append(r.faults[:i:i], r.faults[i+1:]...)
			}
		}
		return f
	}
	return nil
}

func (f *Fault) write(w http.ResponseWriter) {
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	if f.Body == nil && status >= 400 {
		writeError(w, status, "UNAVAILABLE", http.StatusText(status))
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
	w.WriteHeader(status)
	_, _ = w.Write(f.Body)
}

// writeError writes an error body in the format of the distribution-spec.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"errors":[{"code":"` + code + `","message":"` + message + `"}]}`))
}
