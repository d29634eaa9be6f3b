package k8s

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/config"
	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/certrotation"
)

// DefaultNamespace holds the leader election Lease when neither
// RATIFY_NAMESPACE nor POD_NAMESPACE says where ratify runs.
const DefaultNamespace = "gatekeeper-system"

// LeaseName names the Lease of the replica that writes status.
const LeaseName = "ratify-crd-manager"

// Options configure Run. Config, Target and Base are required.
type Options struct {
	// Config reaches the API server (see RESTConfig).
	Config *rest.Config
	// Target receives the overlay the resources make: the provider's
	// *server.Server.
	Target Target
	// Base is config.json as loaded: each resource is validated composed
	// into it, in place of its section.
	Base *config.Config
	// Build are the options resources are built with when validated.
	Build config.BuildOptions
	// Logger receives the logs, controller-runtime's and client-go's
	// included; nil means slog.Default().
	Logger *slog.Logger
	// Namespace holds the leader election Lease; empty means
	// $RATIFY_NAMESPACE, else $POD_NAMESPACE, else DefaultNamespace.
	Namespace string
	// LeaderElect makes only the replica holding the Lease write status
	// (every replica still configures its own engine); false means this
	// process writes.
	LeaderElect bool
	// MetricsBindAddress serves controller-runtime's metrics; "" or "0"
	// turns them off.
	MetricsBindAddress string
	// HealthProbeBindAddress serves controller-runtime's /healthz; "" or
	// "0" turns it off.
	HealthProbeBindAddress string
	// OnReady, when set, is called once, when every resource that existed
	// at start has been reconciled (the provider is then configured as the
	// cluster says).
	OnReady func()
	// CertRotation, when set, keeps the provider's serving certificate
	// fresh (RATIFY_CERT_ROTATION); the elected leader does the writing.
	CertRotation *certrotation.Options
}

// RESTConfig returns how to reach the API server: the kubeconfig file
// given, else $KUBECONFIG, else ~/.kube/config, else the in-cluster
// service account (as kubectl resolves it).
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration (give --kubeconfig, or run in a pod): %v: %w", err, errdef.ErrInvalidConfig)
	}
	return cfg, nil
}

// Run watches ratify's resources (config.ratify.deislabs.io/v1beta1)
// until ctx ends: it installs the overlay they make into opts.Target and
// reports in each resource's status whether it was accepted. If this
// replica loses the leader Lease it goes on configuring its engine and
// campaigns again.
func Run(ctx context.Context, opts Options) error {
	if opts.Config == nil || opts.Target == nil || opts.Base == nil {
		return fmt.Errorf("k8s.Run needs Config, Target and Base: %w", errdef.ErrInvalidConfig)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Namespace == "" {
		opts.Namespace = namespaceFromEnv()
	}
	// controller-runtime and client-go log through package-level loggers
	// of their own; route them to ours.
	logger := logr.FromSlogHandler(opts.Logger.Handler())
	ctrllog.SetLogger(logger)
	klog.SetLogger(logger)

	st := newState(opts.Target)
	ready := newReadiness()
	go func() {
		select {
		case <-ready.ready():
			opts.Logger.Info("cluster resources read; the provider is configured from them")
			if opts.OnReady != nil {
				opts.OnReady()
			}
		case <-ctx.Done():
		}
	}()
	for {
		mgr, err := newManager(opts, logger, st, ready)
		if err != nil {
			return err
		}
		err = mgr.Start(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !opts.LeaderElect || !isClosed(mgr.Elected()) {
			return fmt.Errorf("kubernetes controllers: %w", err)
		}
		opts.Logger.Warn("lost the leader lease; the controllers restart and campaign again", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// newManager builds a controller manager with the reconcilers of the eight
// kinds, sharing st.
func newManager(opts Options, logger logr.Logger, st *state, ready *readiness) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{v1beta1.AddToScheme, corev1.AddToScheme, coordinationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	mgr, err := manager.New(opts.Config, manager.Options{
		Scheme:                        scheme,
		Logger:                        logger,
		Metrics:                       metricsserver.Options{BindAddress: orOff(opts.MetricsBindAddress)},
		HealthProbeBindAddress:        orOff(opts.HealthProbeBindAddress),
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              LeaseName,
		LeaderElectionNamespace:       opts.Namespace,
		LeaderElectionReleaseOnCancel: true,
		// Run may build a manager more than once in a process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes controller manager: %w", err)
	}
	w := &wiring{
		mgr:      mgr,
		state:    st,
		validate: &validator{base: opts.Base, build: opts.Build},
		log:      opts.Logger,
		ready:    ready,
		enqueue:  map[scope]func(context.Context, []key){},
	}
	err = errors.Join(
		register(w, kindVerifier()), register(w, kindNamespacedVerifier()),
		register(w, kindStore()), register(w, kindNamespacedStore()),
		register(w, kindPolicy()), register(w, kindNamespacedPolicy()),
		register(w, kindKeyManagementProvider()), register(w, kindNamespacedKeyManagementProvider()),
	)
	if err != nil {
		return nil, err
	}
	if err := w.addRunnables(); err != nil {
		return nil, err
	}
	if opts.CertRotation != nil {
		cr := *opts.CertRotation
		if cr.Namespace == "" {
			cr.Namespace = opts.Namespace
		}
		if err := certrotation.Add(mgr, cr); err != nil {
			return nil, fmt.Errorf("certificate rotation: %w", err)
		}
	}
	return mgr, nil
}

// namespaceFromEnv is the namespace ratify runs in.
func namespaceFromEnv() string {
	for _, v := range []string{"RATIFY_NAMESPACE", "POD_NAMESPACE"} {
		if ns := os.Getenv(v); ns != "" {
			return ns
		}
	}
	return DefaultNamespace
}

func orOff(addr string) string {
	if addr == "" {
		return "0"
	}
	return addr
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
