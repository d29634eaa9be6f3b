// Package entratest runs local stand-ins for Microsoft Entra ID, an Azure
// managed identity endpoint and Azure Container Registry's token service,
// for tests on loopback. They speak the documented protocols that the
// official Azure SDK (azidentity, over MSAL) and ratify's auth/azure use:
//
//   - Entra: the OpenID Connect configuration document and the OAuth 2.0
//     client credentials grant of the Microsoft identity platform v2.0
//     token endpoint, with a federated client assertion or a client secret
//     (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow),
//     over HTTPS. Instance discovery is not served: MSAL asks the public
//     cloud to validate any other authority, so clients of a local Entra
//     must disable it (azidentity's DisableInstanceDiscovery).
//   - ManagedIdentity: App Service's managed identity endpoint, which
//     azidentity finds through $IDENTITY_ENDPOINT and $IDENTITY_HEADER, over
//     plain HTTP on loopback as App Service serves it.
//   - ACR: Azure Container Registry's token service in front of a registry
//     handler: POST /oauth2/exchange trades an Entra access token for a
//     refresh token, POST /oauth2/token a refresh token for an access token,
//     and registry requests without a valid access token get a bearer
//     challenge.
//
// Each records what it was sent, so that tests can assert which secret
// reached which server.
package entratest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeOAuthError writes an OAuth 2.0 error response (RFC 6749, section 5.2).
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// randomToken returns an opaque token, unique across servers and runs.
func randomToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// NewClientID returns a random client ID in the form of Entra's (a UUID).
// MSAL caches managed identity tokens process-wide by client ID, so a test
// that wants its identity endpoint asked, each time it runs, uses a new one.
func NewClientID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// unsignedJWT returns a JWT with claims and no signature: the registry
// that issues an ACR refresh token is the only one that reads it.
func unsignedJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + ".sig"
}
