package k8s

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/openratify/ratify/api/v1beta1"
	"github.com/openratify/ratify/errdef"
)

// Brief error of azurekeyvault key management providers.
const azureKeyVaultUnavailable = "azurekeyvault key management providers are not available in this version of ratify"

// inlineParameters are the parameters of an inline key management
// provider (Ratify v1): PEM content of one type.
type inlineParameters struct {
	// ContentType is certificate (PEM CERTIFICATE blocks) or key (PEM
	// PUBLIC KEY blocks).
	ContentType string `json:"contentType"`
	// Value is the PEM content.
	Value string `json:"value"`
	// Type repeats the provider's type in some Ratify v1 examples; ignored.
	Type string `json:"type"`
}

// certificateProperties describe one certificate of an inline provider in
// its status.
type certificateProperties struct {
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	SerialNumber string    `json:"serialNumber"`
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
	SHA256       string    `json:"sha256"`
}

// keyProperties describe one public key of an inline provider.
type keyProperties struct {
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
}

// evaluateKeys judges a key management provider: an inline one is parsed
// and described, an azurekeyvault one is refused (not available yet).
// Verifiers cannot use either yet: a verifier's verificationCertStores is
// refused by config.
func evaluateKeys(spec *v1beta1.KeyManagementProviderSpec) outcome {
	if spec.RefreshInterval != "" {
		if d, err := time.ParseDuration(spec.RefreshInterval); err != nil || d < 0 {
			return failed(fmt.Errorf("spec.refreshInterval %q: not a duration such as \"1h\": %w", spec.RefreshInterval, errdef.ErrInvalidConfig))
		}
	}
	switch spec.Type {
	case "inline":
		props, err := inlineProperties(spec)
		if err != nil {
			return failed(err)
		}
		return outcome{properties: props}
	case "azurekeyvault":
		return outcome{
			err:   fmt.Errorf("spec.type azurekeyvault: %s (available: inline): %w", azureKeyVaultUnavailable, errdef.ErrUnsupported),
			brief: azureKeyVaultUnavailable,
		}
	default:
		return failed(fmt.Errorf("spec.type %q: unknown key management provider type (supported: inline, azurekeyvault): %w", spec.Type, errdef.ErrInvalidConfig))
	}
}

// inlineProperties parses an inline provider's PEM value and returns the
// status properties describing what it holds.
func inlineProperties(spec *v1beta1.KeyManagementProviderSpec) (json.RawMessage, error) {
	var p inlineParameters
	dec := json.NewDecoder(bytes.NewReader(spec.Parameters.Raw))
	dec.DisallowUnknownFields()
	if len(spec.Parameters.Raw) > 0 {
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("spec.parameters: %v (known: contentType, value): %w", err, errdef.ErrInvalidConfig)
		}
	}
	if p.Value == "" {
		return nil, fmt.Errorf("spec.parameters.value: no PEM content given: %w", errdef.ErrInvalidConfig)
	}
	blocks, err := pemBlocks([]byte(p.Value))
	if err != nil {
		return nil, err
	}
	switch p.ContentType {
	case "certificate":
		certs, err := parseCertificates(blocks)
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"certificates": certs})
	case "key":
		keys, err := parseKeys(blocks)
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"keys": keys})
	case "":
		return nil, fmt.Errorf("spec.parameters.contentType: not set (certificate or key): %w", errdef.ErrInvalidConfig)
	default:
		return nil, fmt.Errorf("spec.parameters.contentType %q: not certificate or key: %w", p.ContentType, errdef.ErrInvalidConfig)
	}
}

// pemBlocks splits PEM content into its blocks; anything else than blocks
// and white space is an error.
func pemBlocks(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		blocks = append(blocks, block)
		data = rest
	}
	if len(bytes.TrimSpace(data)) > 0 {
		return nil, fmt.Errorf("spec.parameters.value: %d bytes that are not PEM blocks: %w", len(bytes.TrimSpace(data)), errdef.ErrInvalidConfig)
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("spec.parameters.value: no PEM block: %w", errdef.ErrInvalidConfig)
	}
	return blocks, nil
}

func parseCertificates(blocks []*pem.Block) ([]certificateProperties, error) {
	certs := make([]certificateProperties, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("spec.parameters.value: PEM block %d is %q, not CERTIFICATE: %w", i, b.Type, errdef.ErrInvalidConfig)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("spec.parameters.value: certificate %d: %v: %w", i, err, errdef.ErrInvalidConfig)
		}
		sum := sha256.Sum256(c.Raw)
		certs = append(certs, certificateProperties{
			Subject:      c.Subject.String(),
			Issuer:       c.Issuer.String(),
			SerialNumber: c.SerialNumber.Text(16),
			NotBefore:    c.NotBefore.UTC(),
			NotAfter:     c.NotAfter.UTC(),
			SHA256:       hex.EncodeToString(sum[:]),
		})
	}
	return certs, nil
}

func parseKeys(blocks []*pem.Block) ([]keyProperties, error) {
	keys := make([]keyProperties, 0, len(blocks))
	for i, b := range blocks {
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("spec.parameters.value: PEM block %d is %q, not PUBLIC KEY: %w", i, b.Type, errdef.ErrInvalidConfig)
		}
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("spec.parameters.value: key %d: %v: %w", i, err, errdef.ErrInvalidConfig)
		}
		sum := sha256.Sum256(b.Bytes)
		keys = append(keys, keyProperties{Type: keyType(pub), SHA256: hex.EncodeToString(sum[:])})
	}
	return keys, nil
}

// keyType names a public key's algorithm and size ("ECDSA P-256", "RSA 3072").
func keyType(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
