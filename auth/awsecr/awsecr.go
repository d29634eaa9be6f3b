// Package awsecr provides registry credentials for Amazon Elastic Container
// Registry: Ratify v1's authProvider "awsEcrBasic". The AWS SDK v2 finds the
// identity as it does everywhere, typically IAM Roles for Service Accounts
// ($AWS_ROLE_ARN and $AWS_WEB_IDENTITY_TOKEN_FILE, exchanged with STS
// AssumeRoleWithWebIdentity); ECR's GetAuthorizationToken turns it into a
// user name and password for the registries of one region, cached until
// shortly before they expire (12 hours) and renewed in the background.
//
// Only hosts of the form <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]
// receive a credential, and only in Options.Region when it is set; every
// other host receives auth.EmptyCredential, and nothing is sent anywhere.
package awsecr

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/auth/token"
	"github.com/openratify/ratify/errdef"
)

// hostPattern matches ECR registry hosts; the second group is the region.
var hostPattern = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// Region returns the region of an ECR registry host
// ("123456789012.dkr.ecr.us-west-2.amazonaws.com"), and false for any other host.
func Region(host string) (string, bool) {
	m := hostPattern.FindStringSubmatch(strings.ToLower(host))
	if m == nil {
		return "", false
	}
	return m[2], true
}

// Options configure the provider. The zero value uses the SDK's defaults and
// the environment.
type Options struct {
	// Region restricts credentials to the registries of one region; empty
	// means $AWS_API_OVERRIDE_REGION (Ratify v1's chart value
	// oras.authProviders.awsApiOverride.region) and, without it, the region
	// of each registry host.
	Region string
	// Endpoint is the ECR API endpoint; empty means
	// $AWS_API_OVERRIDE_ENDPOINT, then the SDK's own ($AWS_ENDPOINT_URL_ECR,
	// $AWS_ENDPOINT_URL, or the region's).
	Endpoint string
	// HTTPClient carries requests to STS and ECR; nil means the SDK's.
	HTTPClient *http.Client
	// Cache tunes the cache of authorization tokens.
	Cache token.Options
}

type provider struct {
	opts  Options
	cache *token.Cache[auth.Credential]

	mu      sync.Mutex
	clients map[string]*ecr.Client // by region
}

// New returns the awsEcrBasic credential function. It reads no credential
// until a registry asks for one.
func New(opts Options) (auth.CredentialFunc, error) {
	if opts.Region == "" {
		opts.Region = os.Getenv("AWS_API_OVERRIDE_REGION")
	}
	if opts.Endpoint == "" {
		opts.Endpoint = os.Getenv("AWS_API_OVERRIDE_ENDPOINT")
	}
	if opts.Endpoint != "" && !strings.HasPrefix(opts.Endpoint, "https://") {
		return nil, fmt.Errorf("awsEcrBasic: endpoint %q is not an https URL: %w", opts.Endpoint, errdef.ErrInvalidConfig)
	}
	p := &provider{opts: opts, clients: make(map[string]*ecr.Client)}
	p.cache = token.New(p.fetch, opts.Cache)
	return p.credential, nil
}

func (p *provider) credential(ctx context.Context, host string) (auth.Credential, error) {
	region, ok := Region(host)
	if !ok || (p.opts.Region != "" && region != p.opts.Region) {
		return auth.EmptyCredential, nil
	}
	c, err := p.cache.Get(ctx, region)
	if err != nil {
		return auth.EmptyCredential, fmt.Errorf("ecr credentials for %s: %w", host, err)
	}
	return c, nil
}

// fetch is the token.FetchFunc: an ECR authorization token for region.
func (p *provider) fetch(ctx context.Context, region string) (token.Token[auth.Credential], error) {
	client, err := p.client(ctx, region)
	if err != nil {
		return token.Token[auth.Credential]{}, err
	}
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return token.Token[auth.Credential]{}, fmt.Errorf("ecr GetAuthorizationToken in %s: %v: %w", region, err, errdef.ErrUnauthorized)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return token.Token[auth.Credential]{}, fmt.Errorf("ecr GetAuthorizationToken in %s: no token: %w", region, errdef.ErrInvalidContent)
	}
	data := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(*data.AuthorizationToken)
	user, pass, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return token.Token[auth.Credential]{}, fmt.Errorf("ecr GetAuthorizationToken in %s: token is not base64 user:password: %w", region, errdef.ErrInvalidContent)
	}
	expiry := time.Now().Add(time.Hour)
	if data.ExpiresAt != nil {
		expiry = *data.ExpiresAt
	}
	return token.Token[auth.Credential]{Value: auth.Credential{Username: user, Password: pass}, Expiry: expiry}, nil
}

// client returns the ECR client of region, loading the SDK's configuration
// (and so the web identity credentials) the first time.
func (p *provider) client(ctx context.Context, region string) (*ecr.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clients[region]; c != nil {
		return c, nil
	}
	loads := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if p.opts.HTTPClient != nil {
		loads = append(loads, awsconfig.WithHTTPClient(p.opts.HTTPClient))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %v: %w", err, errdef.ErrInvalidConfig)
	}
	c := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		if p.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(p.opts.Endpoint)
		}
	})
	p.clients[region] = c
	return c, nil
}
