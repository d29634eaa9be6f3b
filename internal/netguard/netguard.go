// Package netguard keeps ratify from connecting where no registry, OCSP
// responder or CRL distribution point can be: every connection is checked
// once its address is known (after DNS, so a name that resolves to one of
// them is caught too), and ratify never connects to a link-local address,
// where cloud metadata services answer (169.254.169.254 and its IPv6
// forms), nor to an unspecified or multicast address. Image references and
// the URLs in certificates are chosen by others (whoever creates a pod, a
// signer); without this guard they could make ratify send requests to the
// node's metadata service. Loopback and private networks stay reachable.
package netguard

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/openratify/ratify/errdef"
)

// control is a net.Dialer Control function refusing forbidden addresses.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connection to %s: unexpected address: %w", address, errdef.ErrUnauthorized)
	}
	if reason := forbidden(ap.Addr()); reason != "" {
		return fmt.Errorf("connection to %s refused: %s address (a registry is never there; cloud metadata services are): %w",
			address, reason, errdef.ErrUnauthorized)
	}
	return nil
}

// forbidden says why ratify never connects to addr, or "".
func forbidden(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case addr.IsLinkLocalUnicast():
		return "link-local"
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsMulticast(), addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast():
		return "multicast"
	case addr == netip.MustParseAddr("fd00:ec2::254"): // AWS's IPv6 metadata endpoint
		return "cloud metadata"
	}
	return ""
}

// DialContext dials as net.Dialer does, refusing forbidden addresses with
// an error wrapping errdef.ErrUnauthorized.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Control: control, Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, network, address)
}

// Transport returns a clone of http.DefaultTransport that dials with
// DialContext.
func Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = DialContext
	return t
}
