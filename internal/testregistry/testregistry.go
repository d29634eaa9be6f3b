// Package testregistry starts in-process OCI registries for tests: one that
// serves the referrers API of the OCI distribution-spec v1.1 and one that
// does not (so that clients must fall back to the referrers tag schema). The
// registries count the requests they receive and can be told to misbehave:
// injected faults (Fault) and, for load tests, latency, throttling and
// failures on every request (Conditions).
//
// Both are real registries: go-containerregistry's pkg/registry (with the
// referrers API) and distribution/distribution v3 with in-memory storage
// (without). See DESIGN.md, "Test registries", for the gaps this package
// closes in the former.
package testregistry

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	// distribution's App finds storage drivers only through the registry
	// that this package's init fills; it is linked into tests only.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/sirupsen/logrus"
	orasregistry "oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify/internal/ocimem"
)

// Options configure a test registry. The zero value is a plain-HTTP
// distribution registry without the referrers API.
type Options struct {
	// Referrers serves the OCI distribution-spec v1.1 referrers API
	// (go-containerregistry); false serves none (distribution v3), so that
	// clients fall back to the referrers tag schema.
	Referrers bool
	// ReferrersPageSize, with Referrers, makes the registry split referrers
	// listings into pages of this many descriptors (with a Link header) when
	// the client asks for no page size. Zero means one page.
	ReferrersPageSize int
	// TLS serves HTTPS with a certificate from a test CA (see CAFile).
	TLS bool
	// Username and Password, when set, make every request need HTTP basic
	// authentication with them.
	Username, Password string
	// Handler, when set, wraps the registry after request counting,
	// conditions, authentication and injected faults, and before the
	// registry itself.
	Handler func(http.Handler) http.Handler
	// Conditions are the latency, throttling and failures imposed on every
	// request from the start (see SetConditions).
	Conditions Conditions
}

// Registry is a running test registry. It is stopped when the test ends.
type Registry struct {
	opts   Options
	server *httptest.Server

	mu     sync.Mutex
	counts map[string]int
	total  int
	faults []*Fault
	cond   conditions
}

// New starts a registry on 127.0.0.1 and stops it when t ends.
func New(t testing.TB, opts Options) *Registry {
	t.Helper()
	r := &Registry{opts: opts, counts: make(map[string]int)}
	r.cond.set(opts.Conditions)
	var h http.Handler
	if opts.Referrers {
		h = ocimem.New(ocimem.Options{PageSize: opts.ReferrersPageSize})
	} else {
		// distribution logs every request through logrus' standard logger,
		// which its own main configures; a test registry keeps quiet.
		logrus.SetOutput(io.Discard)
		app := handlers.NewApp(context.Background(), distributionConfig())
		t.Cleanup(func() { _ = app.Shutdown() })
		h = app
	}
	if opts.Handler != nil {
		h = opts.Handler(h)
	}
	r.server = httptest.NewUnstartedServer(r.serve(h))
	// Handshakes that tests make fail on purpose are not worth a log line.
	r.server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if opts.TLS {
		r.server.StartTLS()
	} else {
		r.server.Start()
	}
	t.Cleanup(r.server.Close)
	return r
}

func distributionConfig() *configuration.Configuration {
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{
		"inmemory":    configuration.Parameters{},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}
	cfg.HTTP.Secret = "testregistry"
	cfg.Log.AccessLog.Disabled = true
	return cfg
}

// Host returns the registry's "127.0.0.1:PORT".
func (r *Registry) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(r.server.URL, "http://"), "https://")
}

// Reference returns a reference to repository (and a tag or digest, if
// reference is not empty) in this registry.
func (r *Registry) Reference(repository, reference string) orasregistry.Reference {
	return orasregistry.Reference{Registry: r.Host(), Repository: repository, Reference: reference}
}

// Client returns an HTTP client that trusts the registry's TLS certificate.
func (r *Registry) Client() *http.Client {
	return r.server.Client()
}

// CAFile writes the PEM certificate the registry's TLS certificate chains
// to into a file in t's temporary directory and returns its path. It is
// only meaningful with Options.TLS.
func (r *Registry) CAFile(t testing.TB) string {
	t.Helper()
	cert := r.server.Certificate()
	if cert == nil {
		t.Fatal("testregistry: CAFile needs Options.TLS")
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
