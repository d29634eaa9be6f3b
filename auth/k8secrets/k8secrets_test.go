package k8secrets_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/openratify/ratify/auth/k8secrets"
	"github.com/openratify/ratify/auth/k8secrets/kube"
	"github.com/openratify/ratify/errdef"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func dockerSecret(ns, name string, auths map[string]string) *corev1.Secret {
	entries := ""
	for host, userpass := range auths {
		if entries != "" {
			entries += ","
		}
		entries += fmt.Sprintf("%q:{\"auth\":%q}", host, base64.StdEncoding.EncodeToString([]byte(userpass)))
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{".dockerconfigjson": []byte(`{"auths":{` + entries + `}}`)},
	}
}

func get(t *testing.T, p *k8secrets.Provider, host string) auth.Credential {
	t.Helper()
	c, err := p.Credential(context.Background(), host)
	if err != nil {
		t.Fatalf("credential for %s: %v", host, err)
	}
	return c
}

// TestSecretSelection: configured Secrets come first, then the service
// account's imagePullSecrets; each host gets only the credential written for
// it; Secrets of other types and in other namespaces are not read.
func TestSecretSelection(t *testing.T) {
	cs := fake.NewClientset(
		dockerSecret("ratify", "first", map[string]string{"registry.example": "first:pw1"}),
		dockerSecret("team-a", "second", map[string]string{"https://registry.example/v2/": "second:pw2", "other.example:5000": "other:pw3"}),
		dockerSecret("ratify", "from-sa", map[string]string{"https://index.docker.io/v1/": "hub:pw4", "registry.example": "sa:pw5"}),
		dockerSecret("ratify", "unlisted", map[string]string{"unlisted.example": "x:y"}),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ratify", Name: "opaque"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"opaque.example":{"auth":"eDp5"}}}`)}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ratify", Name: "ratify-admin"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "from-sa"}, {Name: "missing"}, {Name: "opaque"}}},
	)
	p := k8secrets.New(&kube.Cluster{Client: cs}, k8secrets.Options{
		Namespace: "ratify", ServiceAccountName: "ratify-admin",
		Secrets: []k8secrets.SecretRef{{Name: "first"}, {Name: "second", Namespace: "team-a"}},
	})
	for host, want := range map[string]auth.Credential{
		"registry.example":      {Username: "first", Password: "pw1"},
		"REGISTRY.example":      {Username: "first", Password: "pw1"},
		"other.example:5000":    {Username: "other", Password: "pw3"},
		"registry-1.docker.io":  {Username: "hub", Password: "pw4"},
		"docker.io":             {Username: "hub", Password: "pw4"},
		"other.example":         {},
		"registry.example:443":  {},
		"evil.registry.example": {},
		"registry.example.evil": {},
		"unlisted.example":      {},
		"opaque.example":        {},
	} {
		if got := get(t, p, host); got != want {
			t.Errorf("credential for %s = %+v, want %+v", host, got, want)
		}
	}
}

// TestRereadOnExpiryAndRefusal: a rotated Secret is picked up when the
// cached copy expires and when a registry refuses the old credential, but
// refusals do not re-read more often than RereadAfterRefusal.
func TestRereadOnExpiryAndRefusal(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	cs := fake.NewClientset(dockerSecret("ratify", "pull", map[string]string{"registry.example": "u:v1"}),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ratify", Name: "default"}})
	p := k8secrets.New(&kube.Cluster{Client: cs}, k8secrets.Options{Namespace: "ratify",
		Secrets: []k8secrets.SecretRef{{Name: "pull"}}, TTL: time.Minute, RereadAfterRefusal: 10 * time.Second, Now: clk.Now})
	rotate := func(pw string) {
		t.Helper()
		s := dockerSecret("ratify", "pull", map[string]string{"registry.example": "u:" + pw})
		if _, err := cs.CoreV1().Secrets("ratify").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if c := get(t, p, "registry.example"); c.Password != "v1" {
		t.Fatalf("password = %q, want v1", c.Password)
	}
	rotate("v2")
	// Refused right after the read: too soon to read again.
	p.Refused("registry.example")
	if c := get(t, p, "registry.example"); c.Password != "v1" {
		t.Fatalf("password after an early refusal = %q, want v1 (cached)", c.Password)
	}
	clk.Advance(11 * time.Second)
	p.Refused("registry.example")
	if c := get(t, p, "registry.example"); c.Password != "v2" {
		t.Fatalf("password after a refusal = %q, want v2", c.Password)
	}
	rotate("v3")
	clk.Advance(2 * time.Minute) // past the TTL: read again before answering
	if c := get(t, p, "registry.example"); c.Password != "v3" {
		t.Fatalf("password after the TTL = %q, want v3", c.Password)
	}
}

// TestBadSecret: a malformed dockerconfigjson is a configuration error.
func TestBadSecret(t *testing.T) {
	cs := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ratify", Name: "bad"},
		Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":`)}})
	p := k8secrets.New(&kube.Cluster{Client: cs}, k8secrets.Options{Namespace: "ratify", Secrets: []k8secrets.SecretRef{{Name: "bad"}}})
	if _, err := p.Credential(context.Background(), "registry.example"); !errors.Is(err, errdef.ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
}
