package azurekeyvault

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/openratify/ratify/keys"
)

// maxVersionsListed bounds how many versions of one item are listed.
const maxVersionsListed = 1000

// secretSource reads certificates through their secrets (Key Vault
// "Get Secret" and "Get Secret Versions").
type secretSource struct{ c *azsecrets.Client }

func (secretSource) kind() string { return keys.KindCertificate }

func (s secretSource) versions(ctx context.Context, name string) ([]version, error) {
	var out []version
	pager := s.c.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() && len(out) < maxVersionsListed {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Value {
			if p == nil || p.ID == nil {
				continue
			}
			out = append(out, secretVersion(p.ID.Version(), p.Attributes))
		}
	}
	return out, nil
}

func (s secretSource) get(ctx context.Context, name, id string) (version, content, error) {
	resp, err := s.c.GetSecret(ctx, name, id, nil)
	if err != nil {
		return version{}, content{}, err
	}
	v := secretVersion(id, resp.Attributes)
	if resp.ID != nil {
		v.id = resp.ID.Version()
	}
	if !v.enabled {
		return v, content{}, nil
	}
	chain, err := decodeSecret(deref(resp.ContentType), deref(resp.Value))
	if err != nil {
		return version{}, content{}, err
	}
	return v, content{chain: chain}, nil
}

func secretVersion(id string, a *azsecrets.SecretAttributes) version {
	if a == nil {
		return version{id: id, enabled: true}
	}
	return version{id: id, enabled: a.Enabled == nil || *a.Enabled,
		created: t(a.Created), expires: t(a.Expires), notBefore: t(a.NotBefore)}
}

// keySource reads public keys (Key Vault "Get Key" and "Get Key Versions").
type keySource struct{ c *azkeys.Client }

func (keySource) kind() string { return keys.KindKey }

func (s keySource) versions(ctx context.Context, name string) ([]version, error) {
	var out []version
	pager := s.c.NewListKeyPropertiesVersionsPager(name, nil)
	for pager.More() && len(out) < maxVersionsListed {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Value {
			if p == nil || p.KID == nil {
				continue
			}
			out = append(out, keyVersion(p.KID.Version(), p.Attributes))
		}
	}
	return out, nil
}

func (s keySource) get(ctx context.Context, name, id string) (version, content, error) {
	resp, err := s.c.GetKey(ctx, name, id, nil)
	if err != nil {
		return version{}, content{}, err
	}
	v := keyVersion(id, resp.Attributes)
	if resp.Key != nil && resp.Key.KID != nil {
		v.id = resp.Key.KID.Version()
	}
	if !v.enabled {
		return v, content{}, nil
	}
	pub, err := publicKey(resp.Key)
	if err != nil {
		return version{}, content{}, err
	}
	return v, content{key: pub}, nil
}

func keyVersion(id string, a *azkeys.KeyAttributes) version {
	if a == nil {
		return version{id: id, enabled: true}
	}
	return version{id: id, enabled: a.Enabled == nil || *a.Enabled,
		created: t(a.Created), expires: t(a.Expires), notBefore: t(a.NotBefore)}
}

func t(p *time.Time) time.Time { return deref(p) }
