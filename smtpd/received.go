package smtpd

import (
	"context"
	"net/netip"
	"strings"
	"time"
)

// trace is what the header fields we prepend say (RFC 5321 §4.4).
type trace struct {
	returnPath string // "<a@b>" or "<>"
	helo       string // as the client gave it
	remoteName string // verified reverse DNS name, or ""
	ip         netip.Addr
	hostname   string
	proto      string
	id         string
	forRcpt    string // "" when not exactly one recipient
	date       time.Time
}

// String renders the Return-Path and Received header fields, CRLF-ended:
//
//	Return-Path: <sender>
//	Received: from helo (name [ip])
//		by hostname with ESMTPS id ID
//		for <rcpt>; date
func (t trace) String() string {
	var b strings.Builder
	// RFC 5321 §4.4: the final delivery adds Return-Path with the
	// reverse-path of MAIL, "<>" included.
	b.WriteString("Return-Path: " + t.returnPath + "\r\n")
	// RFC 5321 §4.4: From-domain = "FROM" FWS Extended-Domain, with the
	// TCP-info of the connection: the verified name, if any, and the
	// address literal (§4.1.3).
	b.WriteString("Received: from " + cleanHelo(t.helo) + " (")
	if t.remoteName != "" {
		b.WriteString(t.remoteName + " ")
	}
	b.WriteString(addressLiteral(t.ip) + ")\r\n")
	b.WriteString("\tby " + t.hostname + " with " + t.proto + " id " + t.id)
	if t.forRcpt != "" {
		b.WriteString("\r\n\tfor <" + t.forRcpt + ">")
	}
	// RFC 5322 §3.3 date-time.
	b.WriteString("; " + t.date.Format(time.RFC1123Z) + "\r\n")
	return b.String()
}

// withProtocol is the "with" value: ESMTP, plus S for TLS and A for AUTH
// (RFC 3848); UTF8SMTP and its variants for SMTPUTF8 (RFC 6531 §3.7.3, §4.3).
// go-smtp does not tell HELO from EHLO, so plain "SMTP" is not used.
func withProtocol(smtputf8, isTLS, authed bool) string {
	p := "ESMTP"
	if smtputf8 {
		p = "UTF8SMTP"
	}
	if isTLS {
		p += "S"
	}
	if authed {
		p += "A"
	}
	return p
}

// addressLiteral formats ip as RFC 5321 §4.1.3 does.
func addressLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "[unknown]"
	case ip.Is4():
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

// cleanHelo makes the client's HELO/EHLO argument safe inside the header
// field: printable ASCII only, and none of the characters that would end the
// domain or the comment early.
func cleanHelo(helo string) string {
	const max = 255
	var b strings.Builder
	for i := 0; i < len(helo) && i < max; i++ {
		c := helo[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()\\;", c) >= 0 {
			c = '?'
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}

// remoteName returns the client's reverse DNS name if it resolves back to
// the client's address (forward-confirmed), else "". Looked up once per
// connection, and only when a message arrives.
func (c *conn) remoteName() string {
	c.nameOnce.Do(func() {
		if !c.ip.IsValid() {
			return
		}
		o := c.srv.opts
		ctx, cancel := context.WithTimeout(c.ctx, o.LookupTimeout)
		defer cancel()
		names, err := o.Resolver.LookupAddr(ctx, c.ip.String())
		if err != nil {
			return
		}
		for _, name := range names {
			addrs, err := o.Resolver.LookupHost(ctx, name)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Unmap() == c.ip {
					c.name = cleanHelo(strings.TrimSuffix(name, "."))
					return
				}
			}
		}
	})
	return c.name
}
