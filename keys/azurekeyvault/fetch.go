package azurekeyvault

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/openratify/ratify/keys"
)

// fetcher reads the configured items. Its fetch runs under keys.Refreshing,
// which never runs two at once, so the cache needs no lock.
type fetcher struct {
	cfg     Config
	max     int
	now     func() time.Time
	secrets source
	keys    source
	cache   map[string]content // by kind/name/version
}

// fetch reads every configured item (keys.FetchFunc). Any item that cannot
// be read fails the whole fetch, so that the material served is always
// one consistent reading of the vault.
func (f *fetcher) fetch(ctx context.Context) (keys.Material, []keys.Properties, error) {
	var m keys.Material
	var props []keys.Properties
	seen := map[string]bool{}
	for _, it := range f.cfg.Certificates {
		got, p, err := f.item(ctx, f.secrets, it, seen)
		if err != nil {
			return keys.Material{}, nil, err
		}
		for i, c := range got {
			m.Certificates = append(m.Certificates, keys.Certificate{Chain: c.chain, Properties: p[i]})
		}
		props = append(props, p...)
	}
	for _, it := range f.cfg.Keys {
		got, p, err := f.item(ctx, f.keys, it, seen)
		if err != nil {
			return keys.Material{}, nil, err
		}
		for i, c := range got {
			m.Keys = append(m.Keys, keys.PublicKey{Key: c.key, Properties: p[i]})
		}
		props = append(props, p...)
	}
	dropped := props[:0:0]
	for _, p := range props {
		if p.Dropped != "" {
			dropped = append(dropped, p)
		}
	}
	for k := range f.cache {
		if !seen[k] {
			delete(f.cache, k)
		}
	}
	return m, append(served(m), dropped...), nil
}

// served lists the properties of the items in m.
func served(m keys.Material) []keys.Properties {
	var out []keys.Properties
	for _, c := range m.Certificates {
		out = append(out, c.Properties)
	}
	for _, k := range m.Keys {
		out = append(out, k.Properties)
	}
	return out
}

// item reads the trusted versions of one item: its pinned version, or the
// newest f.max of its versions. It returns the contents of the versions
// trusted, with their properties, followed by the properties of the
// versions dropped (which have no content).
func (f *fetcher) item(ctx context.Context, src source, it Item, seen map[string]bool) ([]content, []keys.Properties, error) {
	now := f.now()
	var window []version
	if it.Version != "" {
		window = []version{{id: it.Version}}
	} else {
		all, err := src.versions(ctx, it.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %q: list versions: %w", src.kind(), it.Name, err)
		}
		if len(all) == 0 {
			return nil, nil, fmt.Errorf("%s %q has no versions", src.kind(), it.Name)
		}
		slices.SortFunc(all, func(a, b version) int {
			return cmp.Or(b.created.Compare(a.created), cmp.Compare(b.id, a.id))
		})
		window = all[:min(len(all), f.max)]
	}
	var contents []content
	var props, dropped []keys.Properties
	for _, v := range window {
		p := keys.Properties{Name: it.Name, Version: v.id, Kind: src.kind(), Enabled: v.enabled,
			Created: v.created, Expires: v.expires, LastRefreshed: now}
		key := src.kind() + "/" + it.Name + "/" + v.id
		if it.Version != "" || v.enabled && usable(v, now) == "" {
			c, ok := f.cache[key]
			if !ok || it.Version != "" {
				got, gc, err := src.get(ctx, it.Name, v.id)
				switch {
				case isDisabled(err):
					got = version{id: v.id, enabled: false}
				case err != nil:
					return nil, nil, fmt.Errorf("%s %q version %q: %w", src.kind(), it.Name, v.id, err)
				}
				v, c = got, gc
				p.Enabled, p.Created, p.Expires = v.enabled, v.created, v.expires
			}
			if v.enabled && usable(v, now) == "" {
				p.Describe(c.chain, c.key)
				f.cache[key] = c
				seen[key] = true
				contents = append(contents, c)
				props = append(props, p)
				continue
			}
		}
		p.Dropped = usable(v, now)
		dropped = append(dropped, p)
	}
	return contents, append(props, dropped...), nil
}

// usable says why version v cannot be trusted at now, or "" when it can.
func usable(v version, now time.Time) string {
	switch {
	case !v.enabled:
		return "disabled"
	case !v.expires.IsZero() && !now.Before(v.expires):
		return "expired"
	case !v.notBefore.IsZero() && now.Before(v.notBefore):
		return "not yet valid"
	}
	return ""
}
