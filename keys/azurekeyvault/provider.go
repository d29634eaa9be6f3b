package azurekeyvault

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/keys"
)

// Options are the runtime settings of a provider. The zero value reaches
// Azure with the credential NewCredential chooses.
type Options struct {
	// Credential gets the Microsoft Entra tokens the vault asks for; nil
	// means NewCredential(cfg, ClientOptions).
	Credential azcore.TokenCredential
	// ClientOptions are the Key Vault clients' (and NewCredential's)
	// azcore options: transport, retries, cloud. Zero retry options mean
	// one retry, soon: material may be fetched on a verification's path,
	// and the last good material is served when the vault fails, so a
	// vault in trouble is not asked many times.
	ClientOptions policy.ClientOptions
	// Now is the clock deciding expiry and refresh; nil means time.Now.
	Now func() time.Time
}

// defaultRetry is the Key Vault and Entra requests' retry policy when
// Options.ClientOptions.Retry is zero: one retry, soon.
func defaultRetry() policy.RetryOptions {
	return policy.RetryOptions{MaxRetries: 1, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: time.Second}
}

// Provider serves a vault's certificates and keys (keys.Provider),
// refreshed on the configured interval; see keys.Refreshing.
type Provider struct {
	*keys.Refreshing
	f *fetcher
}

// New returns a provider for cfg. Nothing is read from the vault until
// material is first asked for (or Refresh is called), so that a vault that
// is down does not keep the rest of the configuration from loading.
func New(cfg Config, opts Options) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reflect.ValueOf(opts.ClientOptions.Retry).IsZero() {
		opts.ClientOptions.Retry = defaultRetry()
	}
	cred := opts.Credential
	if cred == nil {
		var err error
		if cred, err = NewCredential(cfg, opts.ClientOptions); err != nil {
			return nil, err
		}
	}
	secrets, err := azsecrets.NewClient(cfg.VaultURI, cred, &azsecrets.ClientOptions{ClientOptions: opts.ClientOptions})
	if err != nil {
		return nil, fmt.Errorf("vaultURI: %v: %w", err, errdef.ErrInvalidConfig)
	}
	keyClient, err := azkeys.NewClient(cfg.VaultURI, cred, &azkeys.ClientOptions{ClientOptions: opts.ClientOptions})
	if err != nil {
		return nil, fmt.Errorf("vaultURI: %v: %w", err, errdef.ErrInvalidConfig)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	f := &fetcher{
		cfg:     cfg,
		max:     cfg.maxVersions(),
		now:     now,
		secrets: secretSource{secrets},
		keys:    keySource{keyClient},
		cache:   map[string]content{},
	}
	d, _ := cfg.interval()
	return &Provider{Refreshing: keys.NewRefreshing(f.fetch, keys.RefreshOptions{Interval: d, Now: now}), f: f}, nil
}

// version is one version of a vault object as listed or read.
type version struct {
	id                          string
	enabled                     bool
	created, expires, notBefore time.Time
}

// content is what a version holds, decoded; versions never change, so it
// is read once.
type content struct {
	chain []*x509.Certificate
	key   any
}

// source reads one kind of vault object.
type source interface {
	kind() string
	versions(ctx context.Context, name string) ([]version, error)
	get(ctx context.Context, name, id string) (version, content, error)
}

// isDisabled reports whether err is Key Vault's refusal to read a disabled
// object version (403 with inner error code SecretDisabled or KeyDisabled).
func isDisabled(err error) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		return false
	}
	return re.ErrorCode == "SecretDisabled" || re.ErrorCode == "KeyDisabled" || innerCode(re) == "SecretDisabled" || innerCode(re) == "KeyDisabled"
}

// innerCode returns error.innererror.code of a Key Vault error body.
func innerCode(re *azcore.ResponseError) string {
	if re.RawResponse == nil || re.RawResponse.Body == nil {
		return ""
	}
	var body struct {
		Error struct {
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(re.RawResponse.Body, 1<<16))
	_ = json.Unmarshal(data, &body)
	return body.Error.InnerError.Code
}
