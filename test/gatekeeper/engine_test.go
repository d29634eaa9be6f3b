package gatekeeper

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	apiconstraints "github.com/open-policy-agent/frameworks/constraint/pkg/apis/constraints"
	"github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/unversioned"
	edv1beta1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/v1beta1"
	templatesv1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/templates/v1"
	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	"github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// reviewDeadline bounds one review. It is far above what a review needs;
// the Provider's own timeout fires first.
const reviewDeadline = 5 * time.Minute

// providerTimeout is the timeout, in seconds, of the Providers the tests
// install: longer than any verification can take on a busy machine, so that
// the answer, not Gatekeeper's client, ends a review. library/provider.yaml
// keeps the production values (TestLibraryProviders).
const providerTimeout = 120

// gatekeeper is Gatekeeper's validation engine as its validating webhook
// runs it: a constraint client with the Rego driver, external data on, and
// (when given a client certificate) client-certificate authentication to
// providers.
type gatekeeper struct {
	client *constraintclient.Client
}

// gatekeeperOptions choose how newGatekeeper sets up the engine.
type gatekeeperOptions struct {
	// Template is the ConstraintTemplate's file under library/.
	Template string
	// ProviderAddr and CABundle replace the host of ratify-provider's URL
	// and its caBundle (library/provider.yaml): the provider's
	// "127.0.0.1:PORT" and the base64 of its CA's PEM.
	ProviderAddr, CABundle string
	// ClientCert and ClientKey, when set, are presented to providers, as
	// Gatekeeper presents its webhook certificate whenever external data
	// is on.
	ClientCert, ClientKey string
	// ResponseCacheTTL, when set, turns on Gatekeeper's cache of provider
	// answers by key (--external-data-provider-response-cache-ttl, 3m by
	// default in Gatekeeper; off here unless asked, so that every review
	// reaches the provider).
	ResponseCacheTTL time.Duration
}

// newGatekeeper builds the engine, loads the template, the constraint of
// library/default/samples and the provider, as Gatekeeper's controllers do
// when they are applied.
func newGatekeeper(t *testing.T, opts gatekeeperOptions) *gatekeeper {
	t.Helper()
	providers := externaldata.NewCache()
	args := []rego.Arg{rego.Tracing(false), rego.AddExternalDataProviderCache(providers)}
	if opts.ClientCert != "" {
		watcher := must(certwatcher.New(opts.ClientCert, opts.ClientKey))(t)
		args = append(args, rego.EnableExternalDataClientAuth(), rego.AddExternalDataClientCertWatcher(watcher))
	}
	if opts.ResponseCacheTTL > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		args = append(args, rego.AddExternalDataProviderResponseCache(externaldata.NewProviderResponseCache(ctx, opts.ResponseCacheTTL)))
	}
	driver := must(rego.New(args...))(t)
	client := must(constraintclient.NewClient(
		constraintclient.Targets(admissionTarget{}),
		constraintclient.Driver(driver),
		constraintclient.EnforcementPoints(apiconstraints.WebhookEnforcementPoint),
	))(t)

	// Gatekeeper's HTTP clients outlive engines (one per provider name, in
	// a package-level cache): start with a fresh one so that no connection
	// made with another engine's certificate is reused.
	externaldata.DefaultClientCache().Invalidate("ratify-provider")
	t.Cleanup(func() { externaldata.DefaultClientCache().Invalidate("ratify-provider") })

	ctx := context.Background()
	if _, err := client.AddTemplate(ctx, loadTemplate(t, opts.Template)); err != nil {
		t.Fatalf("AddTemplate %s: %v", opts.Template, err)
	}
	constraint := loadObjects(t, "default/samples/constraint.yaml")[0]
	if _, err := client.AddConstraint(ctx, constraint); err != nil {
		t.Fatalf("AddConstraint: %v", err)
	}
	provider := loadProvider(t, "ratify-provider")
	u := must(url.Parse(provider.Spec.URL))(t)
	u.Host = opts.ProviderAddr
	provider.Spec.URL, provider.Spec.CABundle, provider.Spec.Timeout = u.String(), opts.CABundle, providerTimeout
	if err := providers.Upsert(provider); err != nil {
		t.Fatalf("Provider: %v", err)
	}
	return &gatekeeper{client: client}
}

// review reviews req as Gatekeeper's validating webhook does and returns the
// messages of the denials it would answer, "[constraint] message", sorted.
// It fails the test if the engine did not review req for the admission
// target.
func (g *gatekeeper) review(t *testing.T, req *admissionv1.AdmissionRequest) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), reviewDeadline)
	defer cancel()
	resp, err := g.client.Review(ctx, req, reviews.EnforcementPoint(apiconstraints.WebhookEnforcementPoint))
	if err != nil {
		t.Fatalf("Review: %v", err)
	}
	if _, ok := resp.ByTarget[admissionTargetName]; !ok {
		t.Fatalf("Review: target %s did not review the request: %+v", admissionTargetName, resp.ByTarget)
	}
	var denials []string
	for _, r := range resp.Results() {
		if r.EnforcementAction != "deny" {
			t.Errorf("result %q has enforcement action %q; the constraint says deny", r.Msg, r.EnforcementAction)
		}
		denials = append(denials, fmt.Sprintf("[%s] %s", r.Constraint.GetName(), r.Msg))
	}
	sort.Strings(denials)
	return denials
}

// loadObjects reads the Kubernetes objects of a YAML file under library/.
func loadObjects(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	f := must(os.Open(libraryFile(path)))(t)
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if obj != nil {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
	if len(objs) == 0 {
		t.Fatalf("%s holds no object", path)
	}
	return objs
}

// newScheme returns a scheme that converts Gatekeeper's versioned API
// objects (templates, Providers) to the unversioned ones its engine takes,
// as Gatekeeper's controllers do.
func newScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := apis.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// loadTemplate reads a ConstraintTemplate (templates.gatekeeper.sh/v1) from
// a file under library/, refusing unknown fields, defaulted and converted as
// Gatekeeper's template controller does.
func loadTemplate(t testing.TB, path string) *templates.ConstraintTemplate {
	t.Helper()
	objs := loadObjects(t, path)
	if len(objs) != 1 || objs[0].GetAPIVersion() != "templates.gatekeeper.sh/v1" || objs[0].GetKind() != "ConstraintTemplate" {
		t.Fatalf("%s: want one templates.gatekeeper.sh/v1 ConstraintTemplate", path)
	}
	var v1 templatesv1.ConstraintTemplate
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(objs[0].Object, &v1, true); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	scheme := newScheme(t)
	scheme.Default(&v1)
	var ct templates.ConstraintTemplate
	if err := scheme.Convert(&v1, &ct, nil); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &ct
}

// loadProvider reads the Provider name (externaldata.gatekeeper.sh/v1beta1)
// from library/provider.yaml, refusing unknown fields.
func loadProvider(t testing.TB, name string) *unversioned.Provider {
	t.Helper()
	for _, obj := range loadObjects(t, "provider.yaml") {
		if obj.GetName() != name {
			continue
		}
		if obj.GetAPIVersion() != "externaldata.gatekeeper.sh/v1beta1" || obj.GetKind() != "Provider" {
			t.Fatalf("provider.yaml: %s is a %s %s", name, obj.GetAPIVersion(), obj.GetKind())
		}
		var v1beta1 edv1beta1.Provider
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, &v1beta1, true); err != nil {
			t.Fatalf("provider.yaml: %s: %v", name, err)
		}
		var p unversioned.Provider
		if err := newScheme(t).Convert(&v1beta1, &p, nil); err != nil {
			t.Fatalf("provider.yaml: %s: %v", name, err)
		}
		return &p
	}
	t.Fatalf("provider.yaml has no Provider %s", name)
	return nil
}
