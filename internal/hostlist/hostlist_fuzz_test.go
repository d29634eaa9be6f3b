package hostlist

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/openratify/ratify/errdef"
)

// FuzzAllowed checks that matching is anchored for every pattern and host
// (the registry allow-list, the Azure token exchange endpoints): a host is
// allowed only when, case and the default port aside, it is the pattern's
// host exactly, or the pattern is "*.domain" and the host is one DNS label
// followed by ".domain". "registry.io" never allows "registry.io.evil.com",
// "*.azurecr.io" never allows "evilazurecr.io" or "a.b.azurecr.io", and
// patterns with a "*" anywhere but a whole first label are refused.
func FuzzAllowed(f *testing.F) {
	for _, s := range [][2]string{
		{"registry.io", "registry.io.evil.com"}, {"*.azurecr.io", "evilazurecr.io"}, {"*.azurecr.io", "a.b.azurecr.io"},
		{"*.azurecr.io", "x.azurecr.io.evil.com"}, {"registry.io*", "registry.io.evil.com"}, {"127.0.0.1:5000", "127.0.0.1:50000"},
		{"Registry.IO:443", "registry.io"}, {"[::1]:5000", "[::1]:5000"}, {"*.example.com", ".example.com"}, {"*.*.io", "a.b.io"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		l, err := Parse([]string{pattern})
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalidConfig) {
				t.Fatalf("Parse(%q): %v does not wrap ErrInvalidConfig", pattern, err)
			}
			return
		}
		p := strings.ToLower(strings.TrimSpace(pattern))
		hostPart := p
		if h, _, err := net.SplitHostPort(p); err == nil {
			hostPart = h // a '*' in the port is a literal port, never a wildcard
		}
		if i := strings.Index(hostPart, "*"); i >= 0 && (i != 0 || !strings.HasPrefix(hostPart, "*.") || strings.Contains(hostPart[1:], "*")) {
			t.Fatalf("Parse accepted %q: a '*' that is not a whole first label", pattern)
		}
		if !l.Allowed(host) {
			return
		}
		want := canonical(p)
		got := canonical(strings.ToLower(host))
		if rest, wild := strings.CutPrefix(want, "*."); wild {
			label, domain, ok := strings.Cut(got, ".")
			if !ok || label == "" || domain != rest {
				t.Fatalf("%q allowed %q: not one label followed by .%s", pattern, host, rest)
			}
			return
		}
		if got != want {
			t.Fatalf("%q allowed %q", pattern, host)
		}
	})
}

// canonical drops the default HTTPS port, so that "h" and "h:443" compare equal.
func canonical(hostport string) string {
	if h, p, err := net.SplitHostPort(hostport); err == nil && p == "443" {
		return h
	}
	return hostport
}
