package testpki

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Envelope media types of the Notary Project signature specification.
const (
	MediaTypeJWS  = jws.MediaTypeEnvelope  // application/jose+json
	MediaTypeCOSE = cose.MediaTypeEnvelope // application/cose
)

// mediaTypePayload is the Notary Project payload content type: a JSON
// object {"targetArtifact": <descriptor>}.
const mediaTypePayload = "application/vnd.cncf.notary.payload.v1+json"

// SignOptions tune Sign: the Notary Project signature specification's
// signed attributes (signing time, expiry) and unsigned timestamp (RFC 3161
// countersignature). The zero value makes a JWS signature, signed now,
// without expiry or timestamp.
type SignOptions struct {
	// MediaType is the envelope type, MediaTypeJWS (default) or MediaTypeCOSE.
	MediaType string
	// SigningTime, when set, backdates the signature. The certificate chain
	// must be valid at that time. Zero means now, through notation-go's
	// signer.GenericSigner; a set time uses the envelope-level API of
	// notation-core-go, which is what the generic signer calls.
	SigningTime time.Time
	// Expiry sets the signature's expiry relative to its signing time.
	Expiry time.Duration
	// TSAURL, when set, has the signature timestamped (RFC 3161) by that
	// authority; TSARoots must then hold the authority's root.
	TSAURL   string
	TSARoots *x509.CertPool
	// HTTPClient reaches the TSA; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Signer returns a notation-go signer holding c's key and chain, which
// produces Notary Project signature envelopes (notation.Signer).
func (c *Certificate) Signer() (*signer.GenericSigner, error) {
	return signer.NewGenericSigner(c.Key, c.Chain)
}

// Sign signs desc with c's key as the Notary Project signature
// specification describes, and returns the envelope bytes, of media type
// opts.MediaType.
func (c *Certificate) Sign(ctx context.Context, desc ocispec.Descriptor, opts SignOptions) ([]byte, error) {
	if opts.MediaType == "" {
		opts.MediaType = MediaTypeJWS
	}
	var ts tspclient.Timestamper
	if opts.TSAURL != "" {
		if opts.TSARoots == nil {
			return nil, errors.New("TSAURL needs TSARoots")
		}
		client := opts.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		var err error
		if ts, err = tspclient.NewHTTPTimestamper(client, opts.TSAURL); err != nil {
			return nil, err
		}
	}
	if opts.SigningTime.IsZero() {
		s, err := c.Signer()
		if err != nil {
			return nil, err
		}
		sig, _, err := s.Sign(ctx, desc, notation.SignerSignOptions{
			SignatureMediaType: opts.MediaType,
			ExpiryDuration:     opts.Expiry,
			Timestamper:        ts,
			TSARootCAs:         tsaRoots(ts, opts.TSARoots),
		})
		return sig, err
	}
	return c.signAt(ctx, desc, opts, ts)
}

// tsaRoots returns roots only when timestamping, as notation-go requires
// both or neither.
func tsaRoots(ts tspclient.Timestamper, roots *x509.CertPool) *x509.CertPool {
	if ts == nil {
		return nil
	}
	return roots
}

// signAt signs with a chosen signing time through notation-core-go's
// envelope API, building the same payload notation-go's signer builds.
func (c *Certificate) signAt(ctx context.Context, desc ocispec.Descriptor, opts SignOptions, ts tspclient.Timestamper) ([]byte, error) {
	payload, err := json.Marshal(struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}{ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, Annotations: desc.Annotations}})
	if err != nil {
		return nil, err
	}
	local, err := signature.NewLocalSigner(c.Chain, c.Key)
	if err != nil {
		return nil, err
	}
	req := &signature.SignRequest{
		Payload:       signature.Payload{ContentType: mediaTypePayload, Content: payload},
		Signer:        local,
		SigningTime:   opts.SigningTime,
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  "ratify-testpki",
		Timestamper:   ts,
		TSARootCAs:    tsaRoots(ts, opts.TSARoots),
	}
	if opts.Expiry != 0 {
		req.Expiry = opts.SigningTime.Add(opts.Expiry)
	}
	env, err := signature.NewEnvelope(opts.MediaType)
	if err != nil {
		return nil, err
	}
	sig, err := env.Sign(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("sign %s at %s: %w", desc.Digest, opts.SigningTime.Format(time.RFC3339), err)
	}
	return sig, nil
}
