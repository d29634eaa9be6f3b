package cosign

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/openratify/ratify/keys"
)

const (
	// simpleSigningType is the critical.type of cosign's simple signing
	// payload; newer cosign versions may write sigstoreSignV1Type.
	simpleSigningType = "cosign container image signature"
	// sigstoreSignV1Type is the in-toto predicate type of a cosign
	// signature statement (what cosign sign writes in bundles).
	sigstoreSignV1Type = "https://sigstore.dev/cosign/sign/v1"
	// inTotoPayloadType is the DSSE payload type of an in-toto statement.
	inTotoPayloadType = "application/vnd.in-toto+json"
	// maxCertificateChain bounds the chain annotation.
	maxCertificateChain = 10
)

// sigLayer is one signature of an artifact, parsed from its layer and
// checked against the subject, ready to be verified under any key or
// identity. A signature with a problem is never verified.
type sigLayer struct {
	digest digest.Digest
	// b64 is the base64 signature, as Ratify v1 reports it.
	b64     string
	problem string
	legacy  *legacySignature
	bundle  *bundleSignature
}

// legacySignature is a simple signing payload and the annotations of its
// layer (cosign's "Signature Specification").
type legacySignature struct {
	payload    []byte
	sig        []byte
	cert       *x509.Certificate
	chain      []*x509.Certificate
	entries    []*tlog.Entry
	timestamps [][]byte
	// certProblem and tlogProblem say why the certificate (or chain) or
	// the Rekor bundle annotation could not be read; they matter only to
	// the checks that need them.
	certProblem, tlogProblem string
}

// simpleSigning is the part of cosign's simple signing payload that is
// checked.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// parseLegacy reads a cosign simple signing layer: the payload and the
// signature, certificate, chain, Rekor bundle and RFC 3161 timestamp
// annotations.
func parseLegacy(layer ocispec.Descriptor, payload []byte, subject digest.Digest) sigLayer {
	s := sigLayer{digest: layer.Digest, b64: layer.Annotations[AnnotationSignature]}
	var ss simpleSigning
	if err := json.Unmarshal(payload, &ss); err != nil {
		s.problem = fmt.Sprintf("payload is not a simple signing payload: %v", err)
		return s
	}
	switch {
	case ss.Critical.Type != simpleSigningType && ss.Critical.Type != sigstoreSignV1Type:
		s.problem = fmt.Sprintf("payload type %q is not %q", ss.Critical.Type, simpleSigningType)
		return s
	case ss.Critical.Image.DockerManifestDigest != subject.String():
		s.problem = fmt.Sprintf("the signature is for image %s, not for %s", ss.Critical.Image.DockerManifestDigest, subject)
		return s
	case s.b64 == "":
		s.problem = "layer has no " + AnnotationSignature + " annotation"
		return s
	}
	sig, err := base64.StdEncoding.DecodeString(s.b64)
	if err != nil || len(sig) == 0 {
		s.problem = fmt.Sprintf("annotation %s is not a base64 signature", AnnotationSignature)
		return s
	}
	l := &legacySignature{payload: payload, sig: sig}
	l.readCertificates(layer.Annotations)
	l.readRekorBundle(layer.Annotations[AnnotationBundle])
	l.readTimestamp(layer.Annotations[AnnotationRFC3161Timestamp])
	s.legacy = l
	return s
}

func (l *legacySignature) readCertificates(annotations map[string]string) {
	if pemCert := annotations[AnnotationCertificate]; pemCert != "" {
		certs, _, err := keys.ParsePEM([]byte(pemCert))
		if err != nil || len(certs) != 1 {
			l.certProblem = fmt.Sprintf("annotation %s is not one PEM certificate", AnnotationCertificate)
			return
		}
		l.cert = certs[0]
	}
	if pemChain := annotations[AnnotationChain]; pemChain != "" {
		certs, _, err := keys.ParsePEM([]byte(pemChain))
		if err != nil || len(certs) > maxCertificateChain {
			l.certProblem = fmt.Sprintf("annotation %s is not a PEM chain of at most %d certificates", AnnotationChain, maxCertificateChain)
			return
		}
		for _, c := range certs {
			// Roots come only from the trusted root; the chain
			// annotation may only supply intermediates.
			if !bytes.Equal(c.RawIssuer, c.RawSubject) {
				l.chain = append(l.chain, c)
			}
		}
	}
}

// rekorBundle is cosign's dev.sigstore.cosign/bundle annotation: a Rekor
// log entry and its signed entry timestamp (inclusion promise).
type rekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	}
}

func (l *legacySignature) readRekorBundle(annotation string) {
	if annotation == "" {
		return
	}
	var b rekorBundle
	if err := json.Unmarshal([]byte(annotation), &b); err != nil {
		l.tlogProblem = fmt.Sprintf("annotation %s does not parse: %v", AnnotationBundle, err)
		return
	}
	body, err := base64.StdEncoding.DecodeString(b.Payload.Body)
	if err != nil {
		l.tlogProblem = fmt.Sprintf("annotation %s: body is not base64", AnnotationBundle)
		return
	}
	logID, err := hex.DecodeString(b.Payload.LogID)
	if err != nil {
		l.tlogProblem = fmt.Sprintf("annotation %s: logID is not hex", AnnotationBundle)
		return
	}
	entry, err := tlog.NewEntry(body, b.Payload.IntegratedTime, b.Payload.LogIndex, logID, b.SignedEntryTimestamp, nil) //nolint:staticcheck // Rekor v1 entries, as cosign writes them
	if err != nil {
		l.tlogProblem = fmt.Sprintf("annotation %s: log entry does not parse: %v", AnnotationBundle, err)
		return
	}
	l.entries = []*tlog.Entry{entry}
}

func (l *legacySignature) readTimestamp(annotation string) {
	if annotation == "" {
		return
	}
	var ts struct {
		SignedRFC3161Timestamp []byte
	}
	if json.Unmarshal([]byte(annotation), &ts) == nil && len(ts.SignedRFC3161Timestamp) > 0 {
		l.timestamps = [][]byte{ts.SignedRFC3161Timestamp}
	}
}

// entity is the signature as sigstore-go verifies it, under content: the
// key or the certificate that is to verify it.
func (l *legacySignature) entity(content verify.VerificationContent) verify.SignedEntity {
	return &legacyEntity{sig: l, content: content}
}

// payloadDigest is the SHA-256 of the payload, which cosign signs.
func (l *legacySignature) payloadDigest() []byte {
	d := sha256.Sum256(l.payload)
	return d[:]
}
