package registry

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/openratify/ratify/errdef"
)

// Every connection the default transport makes is checked once its
// address is known (after DNS, so a name that resolves to one of them is
// caught too): ratify never connects to a link-local address, where cloud
// metadata services answer (169.254.169.254 and its IPv6 forms), nor to an
// unspecified or multicast address. An image reference is chosen by
// whoever creates a pod; without this guard it could make ratify send
// requests to the node's metadata service. Registries on loopback and
// private networks stay reachable; Options.AllowedRegistries narrows
// further.

// dialGuard is a net.Dialer Control function refusing forbidden addresses.
func dialGuard(_, address string, _ syscall.RawConn) error {
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

// guardedDialer is the dialer of the default transport.
func guardedDialer() func(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Control: dialGuard}
	return d.DialContext
}
