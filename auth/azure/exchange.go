package azure

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/openratify/ratify/errdef"
)

// maxExchangeResponse bounds the body of an /oauth2/exchange answer.
const maxExchangeResponse = 1 << 20

// exchange trades a Microsoft Entra access token for an ACR refresh token
// (Azure Container Registry's "AAD OAuth2 exchange":
// POST https://<registry>/oauth2/exchange with grant_type=access_token,
// service, tenant and access_token) and returns it with its expiry, read
// from the token's "exp" claim, or fallback when it has none.
func exchange(ctx context.Context, client *http.Client, host, tenant, accessToken string, fallback time.Time) (string, time.Time, error) {
	form := url.Values{
		"grant_type":   {"access_token"},
		"service":      {host},
		"access_token": {accessToken},
	}
	if tenant != "" {
		form.Set("tenant", tenant)
	}
	u := (&url.URL{Scheme: "https", Host: host, Path: "/oauth2/exchange"}).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token exchange with %s: %v: %w", host, err, errdef.ErrInvalidReference)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token exchange with %s: %v: %w", host, err, errdef.ErrRegistryUnavailable)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeResponse+1))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token exchange with %s: %v: %w", host, err, errdef.ErrRegistryUnavailable)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", time.Time{}, fmt.Errorf("token exchange with %s: HTTP %d: %w", host, resp.StatusCode, errdef.ErrRegistryUnavailable)
	default:
		return "", time.Time{}, fmt.Errorf("token exchange with %s: HTTP %d: %w", host, resp.StatusCode, errdef.ErrUnauthorized)
	}
	if len(body) > maxExchangeResponse {
		return "", time.Time{}, fmt.Errorf("token exchange with %s: response over %d bytes: %w", host, maxExchangeResponse, errdef.ErrSizeExceedsLimit)
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.RefreshToken == "" {
		return "", time.Time{}, fmt.Errorf("token exchange with %s: no refresh_token in the response: %w", host, errdef.ErrInvalidContent)
	}
	expiry := fallback
	if exp, ok := jwtExpiry(out.RefreshToken); ok {
		expiry = exp
	}
	return out.RefreshToken, expiry, nil
}

// jwtExpiry reads the "exp" claim of a JWT without verifying it: the token
// is only passed back to the registry that issued it, and its expiry only
// decides when to fetch a new one.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}, false
	}
	sec, err := claims.Exp.Int64()
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// noRedirect keeps the Entra token from following a redirect to another host.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
