package webhook

import (
	"fmt"
	"net/netip"
)

// special are the ranges a delivery never reaches unless the operator
// allows them, beyond what netip classifies itself (loopback, private,
// link-local, multicast, unspecified).
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: reaches IPv4 behind it
	netip.MustParsePrefix("64:ff9b:1::/48"), // local NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),       // discard
}

// CheckAddr refuses an address of the install's own or a private network:
// loopback, private (RFC 1918, unique local), link-local, multicast,
// unspecified and the other special-purpose ranges, unless one of allow
// contains it.
func CheckAddr(a netip.Addr, allow []netip.Prefix) error {
	a = a.Unmap()
	for _, p := range allow {
		if p.Contains(a) {
			return nil
		}
	}
	var what string
	switch {
	case !a.IsValid():
		what = "an invalid address"
	case a.IsLoopback():
		what = "a loopback address"
	case a.IsUnspecified():
		what = "the unspecified address"
	case a.IsPrivate():
		what = "a private address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		what = "a link-local address"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		what = "a multicast address"
	default:
		for _, p := range special {
			if p.Contains(a) {
				what = "a special-purpose address (" + p.String() + ")"
				break
			}
		}
	}
	if what == "" {
		return nil
	}
	return fmt.Errorf("%s is %s: deliveries go to public addresses only (the operator may allow ranges with --webhooks-allow-cidr)", a, what)
}
