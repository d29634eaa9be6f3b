package notation

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/openratify/ratify/errdef"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
)

// success reports a signature that verified. Checks that failed but that
// the policy's level only logs (permissive, audit) are named in the message.
func success(outcome *notation.VerificationOutcome, policy *trustpolicy.TrustPolicy) ratify.Report {
	r := ratify.Report{IsSuccess: true, Message: "signature verification success"}
	var logged []string
	for _, res := range outcome.VerificationResults {
		if res.Error != nil && res.Action == trustpolicy.ActionLog {
			why, _, _ := describe(res, outcome, policy)
			logged = append(logged, fmt.Sprintf("%s: %s", res.Type, why))
		}
	}
	if len(logged) > 0 {
		r.Message += fmt.Sprintf(" (trust policy %q, level %s, logged failures: %s)",
			policy.Name, policy.SignatureVerification.VerificationLevel, strings.Join(logged, "; "))
	}
	if outcome.EnvelopeContent == nil || len(outcome.EnvelopeContent.SignerInfo.CertificateChain) == 0 {
		return r
	}
	signer := outcome.EnvelopeContent.SignerInfo.CertificateChain[0]
	r.Extensions = map[string]any{
		"Issuer":       signer.Issuer.String(),
		"SN":           signer.Subject.String(),
		"serialNumber": signer.SerialNumber.Text(16),
	}
	if ts := timestampInfo(outcome, policy); ts != nil {
		r.Extensions["timestamp"] = ts
	}
	return r
}

// timestampInfo describes the RFC 3161 countersignature of a signature, if
// it has one: the time it asserts, its accuracy, and whether the trust
// policy had it verified (it does when the policy names a tsa trust store,
// unless verifyTimestamp is afterCertExpiry and the chain has not expired).
func timestampInfo(outcome *notation.VerificationOutcome, policy *trustpolicy.TrustPolicy) map[string]any {
	info := outcome.EnvelopeContent.SignerInfo
	if len(info.UnsignedAttributes.TimestampSignature) == 0 {
		return nil
	}
	token, err := tspclient.ParseSignedToken(info.UnsignedAttributes.TimestampSignature)
	if err != nil {
		return nil
	}
	tst, err := token.Info()
	if err != nil {
		return nil
	}
	ts, err := tst.Validate(info.Signature)
	if err != nil {
		return nil
	}
	verified := hasTSAStore(policy) &&
		(policy.SignatureVerification.VerifyTimestamp != trustpolicy.OptionAfterCertExpiry || chainExpired(outcome))
	for _, res := range outcome.VerificationResults {
		if res.Type == trustpolicy.TypeAuthenticTimestamp && (res.Error != nil || res.Action == trustpolicy.ActionSkip) {
			verified = false
		}
	}
	return map[string]any{
		"time":     ts.Value.UTC().Format(time.RFC3339),
		"accuracy": ts.Accuracy.String(),
		"verified": verified,
	}
}

// failed reports a signature that notation-go rejected, or returns an
// error when the rejection means "could not verify" (a revocation status
// that could not be determined).
func failed(subject ratify.Subject, policy *trustpolicy.TrustPolicy, outcome *notation.VerificationOutcome, verr error) (ratify.Report, error) {
	for _, res := range outcome.VerificationResults {
		if res.Error == nil || res.Action != trustpolicy.ActionEnforce {
			continue
		}
		reason, remedy, inconclusive := describe(res, outcome, policy)
		if inconclusive {
			return ratify.Report{}, fmt.Errorf("verify signature on %s: %s: %w", subject, reason, res.Error)
		}
		return failure(reason, res.Error.Error(), remedy), nil
	}
	if target, ok := payloadTarget(outcome); ok {
		want := subject.Descriptor
		switch {
		case target.Digest != want.Digest:
			return failure(fmt.Sprintf("the signature is for %s, not for %s", target.Digest, want.Digest), "",
				"attach signatures only to the artifact they sign"), nil
		case target.MediaType != want.MediaType || target.Size != want.Size:
			return failure(fmt.Sprintf("the signature describes %s as %s of %d bytes, not %s of %d bytes",
				want.Digest, target.MediaType, target.Size, want.MediaType, want.Size), "", "re-sign the artifact"), nil
		}
	}
	return failure("the signature does not verify", verr.Error(), "re-sign the artifact"), nil
}

// describe says, in an operator's terms, why one of notation-go's checks
// failed and what to change. inconclusive is set when the check could not
// reach a verdict.
func describe(res *notation.ValidationResult, outcome *notation.VerificationOutcome, policy *trustpolicy.TrustPolicy) (reason, remedy string, inconclusive bool) {
	switch res.Type {
	case trustpolicy.TypeIntegrity:
		return "the signature envelope is malformed or has been tampered with", "re-sign the artifact", false
	case trustpolicy.TypeAuthenticity:
		return describeAuthenticity(res.Error, policy)
	case trustpolicy.TypeExpiry:
		return "the signature has expired", "re-sign the artifact", false
	case trustpolicy.TypeAuthenticTimestamp:
		switch {
		case chainExpired(outcome):
			return "signing certificate expired", "re-sign the artifact with a valid certificate, or timestamp signatures " +
				"and name the TSA's root in a tsa trust store of the trust policy", false
		case chainNotYetValid(outcome):
			return "signing certificate is not yet valid", "check the signing certificate's validity period", false
		default:
			return "the signature's timestamp does not verify", fmt.Sprintf(
				"make sure the TSA's root certificate is in a tsa trust store of trust policy %q", policy.Name), false
		}
	case trustpolicy.TypeRevocation:
		if strings.Contains(res.Error.Error(), "is revoked") {
			return "signing certificate is revoked", "re-sign the artifact with a certificate that is not revoked", false
		}
		return "revocation status of the signing certificate could not be determined",
			"make sure the certificate's OCSP responder or CRL distribution point is reachable", true
	default:
		return string(res.Type) + " check failed", "", false
	}
}

func describeAuthenticity(err error, policy *trustpolicy.TrustPolicy) (reason, remedy string, inconclusive bool) {
	var untrusted *signature.SignatureAuthenticityError
	var noStore truststore.TrustStoreError
	var noCert truststore.CertificateError
	var noTrust notation.VerificationInconclusiveError
	switch {
	case errors.Is(err, errdef.ErrTrustMaterialUnavailable):
		return "the trust stores' certificates could not be read", "check the key management providers (their status names the failure)", true
	case errors.As(err, &untrusted):
		return "signature is not produced by a trusted signer", fmt.Sprintf(
			"add the signer's root CA certificate to verificationCerts, for a trust store of trust policy %q", policy.Name), false
	case errors.As(err, &noStore), errors.As(err, &noCert), errors.As(err, &noTrust):
		return fmt.Sprintf("no trusted certificates found for the trust stores %q of trust policy %q", policy.TrustStores, policy.Name),
			"add the signer's root CA certificate to verificationCerts", false
	default:
		return fmt.Sprintf("signing certificate is not a trusted identity of trust policy %q", policy.Name),
			"add the signing certificate's subject to trustedIdentities, or sign with a trusted identity", false
	}
}

func hasTSAStore(policy *trustpolicy.TrustPolicy) bool {
	for _, s := range policy.TrustStores {
		if strings.HasPrefix(s, string(truststore.TypeTSA)+":") {
			return true
		}
	}
	return false
}

func signingChain(outcome *notation.VerificationOutcome) []*x509.Certificate {
	if outcome.EnvelopeContent == nil {
		return nil
	}
	return outcome.EnvelopeContent.SignerInfo.CertificateChain
}

func chainExpired(outcome *notation.VerificationOutcome) bool {
	now := time.Now()
	for _, c := range signingChain(outcome) {
		if now.After(c.NotAfter) {
			return true
		}
	}
	return false
}

func chainNotYetValid(outcome *notation.VerificationOutcome) bool {
	now := time.Now()
	for _, c := range signingChain(outcome) {
		if now.Before(c.NotBefore) {
			return true
		}
	}
	return false
}

// payloadTarget returns the descriptor the signature's payload signs.
func payloadTarget(outcome *notation.VerificationOutcome) (ocispec.Descriptor, bool) {
	if outcome.EnvelopeContent == nil {
		return ocispec.Descriptor{}, false
	}
	var payload struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}
	if json.Unmarshal(outcome.EnvelopeContent.Payload.Content, &payload) != nil {
		return ocispec.Descriptor{}, false
	}
	return payload.TargetArtifact, true
}
