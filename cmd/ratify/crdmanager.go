//go:build k8s

package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/certrotation"
	"github.com/openratify/ratify/internal/k8s"
	"github.com/openratify/ratify/internal/server"
)

// runCRDManager serves the provider configured by the cluster's resources
// (--enable-crd-manager): the Kubernetes controllers run beside it, and the
// provider is not ready before they have read every resource.
//
// It is compiled in with the build tag k8s (the container image has it), so
// that the command line tool does not pay the Kubernetes libraries'
// start-up cost.
func runCRDManager(ctx context.Context, s crdSetup) error {
	restConfig, err := k8s.RESTConfig(s.kubeconfig)
	if err != nil {
		return err
	}
	rotation, err := certRotation(s.server.CertDir)
	if err != nil {
		return err
	}
	synced := make(chan struct{})
	s.server.Ready = func() error {
		select {
		case <-synced:
			return nil
		default:
			return errors.New("ratify's Kubernetes resources have not been read yet")
		}
	}
	srv, err := server.New(s.server)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error {
		return k8s.Run(ctx, k8s.Options{
			Config: restConfig, Target: srv, Base: s.base, Logger: s.logger,
			LeaderElect: s.leaderElect, OnReady: func() { close(synced) },
			CertRotation: rotation,
		})
	})
	return g.Wait()
}

// certRotation returns the certificate rotation settings when
// RATIFY_CERT_ROTATION is on: the Secret <RATIFY_NAME>-tls and the Service
// <RATIFY_NAME> (default "ratify"), mounted at certDir.
func certRotation(certDir string) (*certrotation.Options, error) {
	on, err := rotationRequested()
	if err != nil || !on {
		return nil, err
	}
	if certDir == "" {
		return nil, fmt.Errorf("%s needs --cert-dir, where the rotated certificate is mounted: %w", certRotationEnv, errdef.ErrInvalidConfig)
	}
	name := os.Getenv("RATIFY_NAME")
	if name == "" {
		name = certrotation.DefaultService
	}
	return &certrotation.Options{SecretName: name + "-tls", Service: name, CertDir: certDir}, nil
}
