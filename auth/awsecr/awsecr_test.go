package awsecr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
	"github.com/openratify/ratify/store/registry"
)

const (
	ecrHost     = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
	roleARN     = "arn:aws:iam::123456789012:role/ratify"
	webIdentity = "projected-service-account-token"
)

// aws is STS (AssumeRoleWithWebIdentity, query protocol) and ECR
// (GetAuthorizationToken, JSON 1.1 protocol) on one local HTTPS endpoint,
// as the SDK's AWS_ENDPOINT_URL sends both there.
type awsServer struct {
	*httptest.Server
	mu       sync.Mutex
	stsCalls int
	ecrCalls int
	unsigned int
}

func (s *awsServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		if target != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" ||
			!strings.Contains(r.Header.Get("Authorization"), "Credential=ASIATESTKEY/") {
			s.unsigned++
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"__type":"AccessDeniedException","message":"denied"}`)
			return
		}
		s.ecrCalls++
		tok := base64.StdEncoding.EncodeToString([]byte("AWS:ecr-password"))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		fmt.Fprintf(w, `{"authorizationData":[{"authorizationToken":%q,"expiresAt":%d,"proxyEndpoint":"https://%s"}]}`,
			tok, time.Now().Add(12*time.Hour).Unix(), ecrHost)
		return
	}
	_ = r.ParseForm()
	if r.PostForm.Get("Action") != "AssumeRoleWithWebIdentity" || r.PostForm.Get("RoleArn") != roleARN ||
		r.PostForm.Get("WebIdentityToken") != webIdentity {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>denied</Message></Error></ErrorResponse>`)
		return
	}
	s.stsCalls++
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIATESTKEY</AccessKeyId><SecretAccessKey>secret</SecretAccessKey>
<SessionToken>session</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>%s/ratify</Arn><AssumedRoleId>AROA:ratify</AssumedRoleId></AssumedRoleUser>
</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339), roleARN)
}

func irsaEnv(t *testing.T, endpoint string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte(webIdentity), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_WEB_IDENTITY_TOKEN_FILE": file, "AWS_ROLE_ARN": roleARN, "AWS_ENDPOINT_URL": endpoint,
		// The SDK resolves AWS_ENDPOINT_URL after the web identity provider
		// builds its STS client; the service-specific variable reaches it.
		"AWS_ENDPOINT_URL_STS": endpoint,
		"AWS_CONFIG_FILE":      filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_API_OVERRIDE_REGION": "", "AWS_API_OVERRIDE_ENDPOINT": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CA_BUNDLE": "", // the tests give the SDK an HTTP client trusting their servers
	} {
		t.Setenv(k, v)
	}
}

// TestECR pulls from a registry reached as an ECR host with the password
// that ECR's GetAuthorizationToken issued for the web identity's STS
// credentials. The token is cached; hosts that are not ECR registries of
// the region get nothing.
func TestECR(t *testing.T) {
	srv := &awsServer{}
	srv.Server = httptest.NewTLSServer(http.HandlerFunc(srv.serve))
	t.Cleanup(srv.Close)
	irsaEnv(t, srv.URL)
	r := testregistry.New(t, testregistry.Options{Referrers: true, TLS: true, Username: "AWS", Password: "ecr-password"})
	r.PushImage(t, "app", "v1")

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	data, err := os.ReadFile(r.CAFile(t))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(cert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The ECR host name leads to the test registry; both test servers'
	// certificates are for 127.0.0.1.
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, ecrHost+":") {
			addr = r.Host()
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}

	cred, err := New(Options{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := registry.New(registry.Options{Credential: cred, Transport: tr, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Resolve(context.Background(), orasregistry.Reference{Registry: ecrHost, Repository: "app", Reference: "v1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cred(context.Background(), ecrHost); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	if srv.stsCalls != 1 || srv.ecrCalls != 1 || srv.unsigned != 0 {
		t.Errorf("sts calls %d, ecr calls %d, unsigned ecr calls %d; want 1, 1, 0", srv.stsCalls, srv.ecrCalls, srv.unsigned)
	}
	srv.mu.Unlock()

	for _, host := range []string{"registry.example", ecrHost + ".evil.example", "evil" + ecrHost, "123456789012.dkr.ecr.us-west-2.amazonaws.com:5000"} {
		if c, err := cred(context.Background(), host); err != nil || c != auth.EmptyCredential {
			t.Errorf("credential for %s = %+v, %v; want none", host, c, err)
		}
	}
	pinned, err := New(Options{Region: "eu-west-1", HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := pinned(context.Background(), ecrHost); err != nil || c != auth.EmptyCredential {
		t.Errorf("credential for a registry of another region = %+v, %v; want none", c, err)
	}
}

// TestECRRefused: an identity STS refuses is an error wrapping
// errdef.ErrUnauthorized.
func TestECRRefused(t *testing.T) {
	srv := &awsServer{}
	srv.Server = httptest.NewTLSServer(http.HandlerFunc(srv.serve))
	t.Cleanup(srv.Close)
	irsaEnv(t, srv.URL)
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/other")
	cred, err := New(Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred(context.Background(), ecrHost); !errors.Is(err, errdef.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if _, err := New(Options{Endpoint: "http://plain.example"}); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("plain endpoint: err = %v, want ErrInvalidConfig", err)
	}
}

func TestRegion(t *testing.T) {
	for host, want := range map[string]string{
		ecrHost: "us-west-2",
		"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com": "us-gov-west-1",
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn":      "cn-north-1",
		"12345678901.dkr.ecr.us-west-2.amazonaws.com":           "",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com.evil":     "",
		"x123456789012.dkr.ecr.us-west-2.amazonaws.com":         "",
		"123456789012.dkr.ecr.us.west-2.amazonaws.com":          "",
	} {
		got, ok := Region(host)
		if got != want || ok != (want != "") {
			t.Errorf("Region(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}
