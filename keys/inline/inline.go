// Package inline is Ratify v1's "inline" key management provider
// (https://ratify.dev/docs/reference/custom%20resources/key-management-providers#inline):
// one PEM certificate chain or one PEM public key given in the
// configuration itself.
package inline

import (
	"fmt"
	"time"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
)

// Content types of Config.ContentType, as in Ratify v1.
const (
	ContentTypeCertificate = "certificate"
	ContentTypeKey         = "key"
)

// Config is the inline provider's parameters, with Ratify v1's field names.
type Config struct {
	// ContentType is "certificate" (a chain, leaf first) or "key" (one
	// PKIX public key).
	ContentType string `json:"contentType"`
	// Value is the PEM text.
	Value string `json:"value"`
}

// Validate checks the content type and that Value parses as it says;
// errors wrap errdef.ErrInvalidConfig.
func (c Config) Validate() error {
	_, err := material(c, "", time.Time{})
	return err
}

// New returns a provider serving the configured value; name is the
// provider's name, reported in its properties.
func New(name string, cfg Config) (*keys.Static, error) {
	now := time.Now()
	m, err := material(cfg, name, now)
	if err != nil {
		return nil, err
	}
	return keys.NewStatic(m, now), nil
}

func material(cfg Config, name string, now time.Time) (keys.Material, error) {
	certs, pubs, err := keys.ParsePEM([]byte(cfg.Value))
	if cfg.Value == "" {
		return keys.Material{}, fmt.Errorf("value: empty: %w", errdef.ErrInvalidConfig)
	}
	if err != nil {
		return keys.Material{}, fmt.Errorf("value: %v: %w", err, errdef.ErrInvalidConfig)
	}
	props := keys.Properties{Name: name, Enabled: true, LastRefreshed: now}
	switch cfg.ContentType {
	case ContentTypeCertificate:
		if len(certs) == 0 || len(pubs) > 0 {
			return keys.Material{}, fmt.Errorf("value: contentType certificate needs PEM certificates only: %w", errdef.ErrInvalidConfig)
		}
		props.Kind = keys.KindCertificate
		props.Describe(certs, nil)
		return keys.Material{Certificates: []keys.Certificate{{Chain: certs, Properties: props}}}, nil
	case ContentTypeKey:
		if len(pubs) != 1 || len(certs) > 0 {
			return keys.Material{}, fmt.Errorf("value: contentType key needs exactly one PEM public key: %w", errdef.ErrInvalidConfig)
		}
		props.Kind = keys.KindKey
		props.Describe(nil, pubs[0])
		return keys.Material{Keys: []keys.PublicKey{{Key: pubs[0], Properties: props}}}, nil
	default:
		return keys.Material{}, fmt.Errorf("contentType: %q is not %q or %q: %w", cfg.ContentType, ContentTypeCertificate, ContentTypeKey, errdef.ErrInvalidConfig)
	}
}
