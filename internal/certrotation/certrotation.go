// Package certrotation keeps ratify's serving certificate fresh when
// RATIFY_CERT_ROTATION is on, as Ratify v1 does: a CA and a serving
// certificate live in a Kubernetes Secret, are renewed well before they
// expire, and the CA is written into the caBundle of ratify's Gatekeeper
// Provider objects (externaldata.gatekeeper.sh/v1beta1). The Secret is
// mounted into the pod at the provider's --cert-dir, whose files the
// provider reloads on change, so a rotation drops no request.
//
// The work is done by Open Policy Agent's cert-controller (the rotator
// Gatekeeper itself uses), run by the elected leader only: it is the one
// place where this state is written.
package certrotation

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// EnvVar is the feature flag that turns certificate rotation on, as the
// Helm value featureFlags.RATIFY_CERT_ROTATION sets it.
const EnvVar = "RATIFY_CERT_ROTATION"

// Defaults of Options, matching the names the Helm chart uses.
const (
	DefaultSecretName = "ratify-tls"
	DefaultService    = "ratify"
	// DefaultLookahead renews certificates this long before they expire.
	DefaultLookahead = 90 * 24 * time.Hour
)

// Provider names whose caBundle is kept current.
var providerNames = []string{"ratify-provider", "ratify-mutation-provider"}

// Options say where the certificates live and whom they are for.
type Options struct {
	// Namespace is ratify's namespace (the Secret's and the Service's).
	Namespace string
	// SecretName holds ca.crt, ca.key, tls.crt and tls.key; default DefaultSecretName.
	SecretName string
	// Service is the name of ratify's Service; the certificate is for
	// Service.Namespace and Service.Namespace.svc. Default DefaultService.
	Service string
	// CertDir is where the Secret is mounted (the provider's --cert-dir).
	CertDir string
	// Providers are the Gatekeeper Provider objects to patch; default
	// ratify-provider and ratify-mutation-provider.
	Providers []string
	// Ready, if set, is closed once the certificates are in CertDir.
	Ready chan struct{}
}

// Add registers the rotator with mgr. It runs when mgr starts, on the
// leader only.
func Add(mgr manager.Manager, opts Options) error {
	if opts.Namespace == "" || opts.CertDir == "" {
		return fmt.Errorf("certificate rotation needs ratify's namespace and the certificate directory")
	}
	if opts.SecretName == "" {
		opts.SecretName = DefaultSecretName
	}
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.Providers == nil {
		opts.Providers = providerNames
	}
	if opts.Ready == nil {
		opts.Ready = make(chan struct{})
	}
	webhooks := make([]rotator.WebhookInfo, len(opts.Providers))
	for i, name := range opts.Providers {
		webhooks[i] = rotator.WebhookInfo{Name: name, Type: rotator.ExternalDataProvider}
	}
	host := opts.Service + "." + opts.Namespace
	return rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:             types.NamespacedName{Namespace: opts.Namespace, Name: opts.SecretName},
		CertDir:               opts.CertDir,
		CAName:                "ratify-ca",
		CAOrganization:        "ratify",
		DNSName:               host,
		ExtraDNSNames:         []string{host + ".svc", host + ".svc.cluster.local"},
		IsReady:               opts.Ready,
		Webhooks:              webhooks,
		FieldOwner:            "ratify",
		RequireLeaderElection: true,
		ExtKeyUsages:          &[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		LookaheadInterval:     DefaultLookahead,
	})
}
