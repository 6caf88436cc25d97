package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Route keys name a next hop; recipients with the same key share a
// connection and a transaction.
const (
	keySmarthost = "smarthost"
	keyRoute     = "route:" // + host:port
	keyMX        = "mx:"    // + domain
)

// routeKey is the next hop of a recipient: the route of its domain if it
// has one, else the smarthost if there is one, else its domain's MX
// hosts. A route is the more specific rule, so it wins over the
// smarthost, as Postfix's transport maps win over its relayhost (an
// internal relay must not be bypassed through the ISP's).
func (q *Queue) routeKey(addr string) string {
	dom := domainOf(addr)
	if a, ok := q.opts.Routes[dom]; ok {
		return keyRoute + a
	}
	if q.opts.Smarthost != nil {
		return keySmarthost
	}
	return keyMX + dom
}

// domainOf returns the lower-case domain of an address.
func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// hop is a host to try: a name (or an IP literal) and a port.
type hop struct {
	name string
	port int
	mx   bool // found through MX or the implicit MX (opportunistic TLS)
	// implicit: the domain has no MX; this is its own name (RFC 5321 §5.1).
	implicit bool
}

// hops lists the hosts to try for a key, in order, or the failure that
// applies to every recipient.
func (q *Queue) hops(ctx context.Context, key string) ([]hop, *result) {
	switch {
	case key == keySmarthost:
		h, err := splitHop(q.opts.Smarthost.Addr)
		if err != nil {
			return nil, tempResult("4.3.5", "", "smarthost "+q.opts.Smarthost.Addr+": "+err.Error())
		}
		return []hop{h}, nil
	case strings.HasPrefix(key, keyRoute):
		addr := key[len(keyRoute):]
		h, err := splitHop(addr)
		if err != nil {
			return nil, tempResult("4.3.5", "", "route "+addr+": "+err.Error())
		}
		return []hop{h}, nil
	}
	return q.mxHops(ctx, key[len(keyMX):])
}

func splitHop(hostport string) (hop, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hop{}, err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return hop{}, fmt.Errorf("bad port %q", port)
	}
	return hop{name: host, port: n}, nil
}

// mxHops finds a domain's mail exchangers (RFC 5321 §5.1).
func (q *Queue) mxHops(ctx context.Context, domain string) ([]hop, *result) {
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			// Looking it up needs its A-label (IDNA), which this
			// version does not compute.
			return nil, permResult("5.1.2", "", "the domain "+domain+" is not in ASCII (xn--) form; internationalised domain names are not supported")
		}
	}
	if ip, ok := addressLiteral(domain); ok {
		return []hop{{name: ip, port: q.opts.MXPort, mx: true}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, q.opts.ConnectTimeout)
	defer cancel()
	mxs, err := q.opts.Resolver.LookupMX(ctx, domain)
	if err != nil && len(mxs) == 0 {
		if isNotFound(err) {
			// RFC 5321 §5.1: no MX records: the domain itself is the
			// implicit MX, with preference 0.
			return []hop{{name: domain, port: q.opts.MXPort, mx: true, implicit: true}}, nil
		}
		return nil, tempResult("4.4.3", "", "DNS lookup of the MX records of "+domain+" failed: "+dnsText(err))
	}
	// RFC 7505 §3: a single MX of "." with preference 0 says the domain
	// accepts no mail. A "." among real MX records is ignored (§4.3).
	var real []*net.MX
	for _, mx := range mxs {
		if mx == nil {
			continue
		}
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			real = append(real, mx)
		}
	}
	if len(real) == 0 {
		return nil, permResult("5.1.10", "", domain+" does not accept mail: it publishes a null MX record (RFC 7505)")
	}
	// RFC 5321 §5.1: try them in order of preference, picking at random
	// among equal preferences to spread the load.
	rand.Shuffle(len(real), func(i, j int) { real[i], real[j] = real[j], real[i] })
	slices.SortStableFunc(real, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	hops := make([]hop, len(real))
	for i, mx := range real {
		hops[i] = hop{name: strings.TrimSuffix(mx.Host, "."), port: q.opts.MXPort, mx: true}
	}
	return hops, nil
}

// addressLiteral recognises "[192.0.2.1]" and "[IPv6:2001:db8::1]"
// (RFC 5321 §4.1.3).
func addressLiteral(d string) (string, bool) {
	if len(d) < 3 || d[0] != '[' || d[len(d)-1] != ']' {
		return "", false
	}
	s := d[1 : len(d)-1]
	if v6, ok := strings.CutPrefix(strings.ToLower(s), "ipv6:"); ok {
		s = v6
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	return ip.String(), true
}

// addresses resolves a hop's name to IP addresses, IPv6 and IPv4 alike.
func (q *Queue) addresses(ctx context.Context, h hop) ([]string, error) {
	if ip, err := netip.ParseAddr(h.name); err == nil {
		return []string{ip.String()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, q.opts.ConnectTimeout)
	defer cancel()
	ips, err := q.opts.Resolver.LookupIPAddr(ctx, h.name)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no address", Name: h.name, IsNotFound: true}
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.IP.String())
	}
	return out, nil
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// dnsText is a DNS error without Go's "lookup X on Y:" prefix noise.
func dnsText(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsTimeout {
			return "timeout"
		}
		return de.Err
	}
	return err.Error()
}
