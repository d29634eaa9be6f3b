// Package files is a key management provider reading PEM certificates and
// public keys (RFC 7468) from files and directories, as mounted from a
// Kubernetes Secret or ConfigMap. Files are read again every refresh
// interval, so a rotated mount is picked up without a restart.
package files

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/limitedfile"
	"github.com/openratify/ratify/keys"
)

// maxFileSize bounds one PEM file.
const maxFileSize = 4 << 20

// Config is the files provider's parameters.
type Config struct {
	// Paths are PEM files, or directories whose files (recursively, except
	// hidden ones such as a Secret mount's ..data links) are PEM files.
	Paths []string `json:"paths"`
	// RefreshInterval is how often the files are read again, as a Go
	// duration ("10m"); empty means keys.DefaultRefreshInterval.
	RefreshInterval string `json:"refreshInterval"`
}

// Validate checks the fields; errors wrap errdef.ErrInvalidConfig.
func (c Config) Validate() error {
	if len(c.Paths) == 0 {
		return fmt.Errorf("paths: no file or directory given: %w", errdef.ErrInvalidConfig)
	}
	if _, err := interval(c.RefreshInterval); err != nil {
		return err
	}
	return nil
}

func interval(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("refreshInterval: %q is not a positive duration: %w", s, errdef.ErrInvalidConfig)
	}
	return d, nil
}

// New returns a provider over cfg's paths, which must exist; they are
// read when material is first asked for and every refresh interval after.
func New(cfg Config) (*keys.Refreshing, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for i, p := range cfg.Paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("paths[%d]: %v: %w", i, err, errdef.ErrInvalidConfig)
		}
	}
	d, _ := interval(cfg.RefreshInterval)
	paths := slices.Clone(cfg.Paths)
	return keys.NewRefreshing(func(context.Context) (keys.Material, []keys.Properties, error) {
		return read(paths, time.Now())
	}, keys.RefreshOptions{Interval: d}), nil
}

func read(paths []string, now time.Time) (keys.Material, []keys.Properties, error) {
	var m keys.Material
	var props []keys.Properties
	for _, root := range paths {
		err := keys.WalkFiles(root, func(path string) error {
			data, err := limitedfile.Read(path, maxFileSize)
			if err != nil {
				return err
			}
			certs, pubs, err := keys.ParsePEM(data)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if len(certs) > 0 {
				p := keys.Properties{Name: path, Kind: keys.KindCertificate, Enabled: true, LastRefreshed: now}
				p.Describe(certs, nil)
				m.Certificates = append(m.Certificates, keys.Certificate{Chain: certs, Properties: p})
				props = append(props, p)
			}
			for _, k := range pubs {
				p := keys.Properties{Name: path, Kind: keys.KindKey, Enabled: true, LastRefreshed: now}
				p.Describe(nil, k)
				m.Keys = append(m.Keys, keys.PublicKey{Key: k, Properties: p})
				props = append(props, p)
			}
			return nil
		})
		if err != nil {
			return keys.Material{}, nil, fmt.Errorf("key files: %w", err)
		}
	}
	return m, props, nil
}
