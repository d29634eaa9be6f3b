// Package hostlist matches registry hosts against allow-lists of exact
// hosts and one-label wildcards: the Azure providers' token exchange
// endpoints (auth/azure) and the registries ratify may reach at all
// (store/registry).
package hostlist

import (
	"fmt"
	"net"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// List is an allow-list of hosts. An entry is a host ("myregistry.azurecr.io"),
// a host and port ("127.0.0.1:5000"), or a host whose first label is the
// wildcard "*" ("*.azurecr.io"), which stands for exactly one DNS label.
// Hosts match exactly (case-insensitively), never by substring or suffix:
// "*.azurecr.io" matches "myregistry.azurecr.io" but not "evilazurecr.io",
// "a.b.azurecr.io" or "x.azurecr.io.evil.com". An entry without a port
// matches the host on the default HTTPS port only.
type List struct {
	patterns []endpoint
}

// Parse validates patterns. An invalid pattern is an error wrapping
// errdef.ErrInvalidConfig.
func Parse(patterns []string) (List, error) {
	var e List
	for _, p := range patterns {
		ep, err := parseEndpoint(p)
		if err != nil {
			return List{}, fmt.Errorf("%q: %s: %w", p, err, errdef.ErrInvalidConfig)
		}
		e.patterns = append(e.patterns, ep)
	}
	return e, nil
}

// Len returns the number of entries.
func (e List) Len() int { return len(e.patterns) }

type endpoint struct {
	wildcard bool   // first label is "*"
	host     string // without the "*." of a wildcard
	port     string // "" for the default port
}

func parseEndpoint(p string) (endpoint, error) {
	p = strings.ToLower(strings.TrimSpace(p))
	if strings.Contains(p, "/") {
		return endpoint{}, fmt.Errorf("a host name, not a URL")
	}
	var ep endpoint
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		ep.wildcard, p = true, rest
	}
	host, port := p, ""
	if strings.Contains(p, ":") {
		h, pt, err := net.SplitHostPort(p)
		if err != nil || pt == "" {
			return endpoint{}, fmt.Errorf("not host or host:port")
		}
		host, port = h, pt
	}
	if host == "" || strings.Contains(host, "*") {
		return endpoint{}, fmt.Errorf("only a whole first label may be the wildcard \"*\"")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" && net.ParseIP(host) == nil {
			return endpoint{}, fmt.Errorf("empty label")
		}
	}
	if ep.wildcard && !strings.Contains(host, ".") {
		return endpoint{}, fmt.Errorf("a wildcard needs a domain of at least two labels")
	}
	ep.host, ep.port = host, port
	if ep.port == "443" {
		ep.port = ""
	}
	return ep, nil
}

// Allowed reports whether hostport ("myregistry.azurecr.io",
// "127.0.0.1:5000") is on the list.
func (e List) Allowed(hostport string) bool {
	host, port := strings.ToLower(hostport), ""
	if strings.Contains(host, ":") {
		h, p, err := net.SplitHostPort(host)
		if err != nil || p == "" {
			return false
		}
		host, port = h, p
	}
	if port == "443" {
		port = ""
	}
	for _, ep := range e.patterns {
		if ep.port != port {
			continue
		}
		if !ep.wildcard {
			if host == ep.host {
				return true
			}
			continue
		}
		label, rest, ok := strings.Cut(host, ".")
		if ok && label != "" && rest == ep.host {
			return true
		}
	}
	return false
}

// String lists the patterns, for messages.
func (e List) String() string {
	s := make([]string, len(e.patterns))
	for i, ep := range e.patterns {
		h := ep.host
		if ep.wildcard {
			h = "*." + h
		}
		if ep.port != "" {
			h = net.JoinHostPort(h, ep.port)
		}
		s[i] = h
	}
	return strings.Join(s, ", ")
}
