package users

import (
	"fmt"
	"strings"
)

// Length limits on addresses.
const (
	// RFC 5321 §4.5.3.1.1: a local part is at most 64 octets.
	maxLocalLen = 64
	// RFC 5321 §4.5.3.1.2: a domain is at most 255 octets; a DNS name in
	// text form is at most 253 (RFC 1035 §2.3.4, less the root dot and the
	// length octets), which is the tighter bound we use.
	maxDomainLen = 253
	// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle
	// brackets, so an address is at most 254.
	maxAddressLen = 254
	// RFC 1035 §2.3.4: a label is at most 63 octets.
	maxLabelLen = 63
)

// atextSpecials are the characters besides letters and digits that RFC 5322
// §3.2.3 allows in an atom ("atext"). A dot-atom local part (RFC 5321 §4.1.2
// Dot-string) is atoms joined by single dots.
const atextSpecials = "!#$%&'*+-/=?^_`{|}~"

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isAtext(c byte) bool {
	return isAlnum(c) || strings.IndexByte(atextSpecials, c) >= 0
}

// ValidDomain reports whether d is a domain name this server accepts as
// one of its own or in an address: dot-separated LDH labels (RFC 1035
// §2.3.1 as relaxed by RFC 1123 §2.1 to allow a leading digit), each 1-63
// characters, not starting or ending with a hyphen, at most 253 characters
// in all, no trailing dot. Internationalised names must be written in their
// A-label ("xn--") form. The last label may not be all digits, so an IPv4
// address is never taken for a name (RFC 5321 §4.1.3 spells addresses as
// "[192.0.2.1]" literals, which we do not accept for local domains).
// Upper case is accepted; callers fold it.
func ValidDomain(d string) bool {
	return domainProblem(d) == ""
}

// domainProblem says what is wrong with d, or "" when it is a valid domain.
func domainProblem(d string) string {
	if d == "" {
		return "the domain is empty"
	}
	if len(d) > maxDomainLen {
		return fmt.Sprintf("the domain is longer than %d characters", maxDomainLen)
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if l == "" {
			return "the domain has an empty label (a leading, trailing or double dot)"
		}
		if len(l) > maxLabelLen {
			return fmt.Sprintf("a domain label is longer than %d characters", maxLabelLen)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "a domain label starts or ends with a hyphen"
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isAlnum(c) && c != '-' {
				return fmt.Sprintf("the domain contains %q; only letters, digits, hyphens and dots are allowed", rune(c))
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return "the domain's last label is all digits (an IP address is not a domain)"
	}
	return ""
}

// ValidDelimiter reports whether d can be the recipient delimiter that
// separates a subaddress ("alice+tag"): exactly one of the atext special
// characters of RFC 5322 §3.2.3. A dot is not allowed, since it already
// separates the parts of ordinary names like "first.last".
func ValidDelimiter(d string) bool {
	return len(d) == 1 && strings.IndexByte(atextSpecials, d[0]) >= 0
}

// localProblem says what is wrong with a dot-atom local part, or "" when it
// is acceptable. delim, when not empty, may not appear in it.
func localProblem(l, delim string) string {
	if l == "" {
		return "the part before @ is empty"
	}
	if len(l) > maxLocalLen {
		return fmt.Sprintf("the part before @ is longer than %d characters", maxLocalLen)
	}
	// RFC 5321 §4.1.2: Dot-string = Atom *("." Atom); an atom is at least
	// one atext character, so no leading, trailing or doubled dot.
	if l[0] == '.' || l[len(l)-1] == '.' {
		return "the part before @ starts or ends with a dot"
	}
	if strings.Contains(l, "..") {
		return "the part before @ has two dots in a row"
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c >= 0x80 {
			// RFC 6531 (SMTPUTF8) addresses are not supported.
			return "the part before @ contains a non-ASCII character"
		}
		if c != '.' && !isAtext(c) {
			return fmt.Sprintf("the part before @ contains %q, which is not allowed", rune(c))
		}
	}
	if delim != "" && strings.Contains(l, delim) {
		return fmt.Sprintf("the part before @ contains the subaddress delimiter %q", delim)
	}
	return ""
}

// badAddress wraps ErrBadAddress with the offending text and the reason.
func badAddress(s, why string) error {
	if len(s) > maxAddressLen+16 {
		s = s[:maxAddressLen] + "…"
	}
	return fmt.Errorf("%w: %q: %s", ErrBadAddress, s, why)
}

// splitAddress checks the syntax of a bare address (no angle brackets, no
// display name) and returns its local part and its domain, both folded to
// lower case. delim, when not empty, is forbidden in the local part: pass
// it when the address names a local user or alias, and "" for a
// subaddressed or remote address.
//
// RFC 5321 §2.4 lets a receiving host treat local parts as case-sensitive
// but advises against relying on it; we fold them so that Alice@ and
// alice@ are one mailbox. Quoted-string local parts (RFC 5321 §4.1.2) and
// address literals are not accepted.
func splitAddress(s, delim string) (local, domain string, err error) {
	if s == "" {
		return "", "", badAddress(s, "the address is empty")
	}
	if len(s) > maxAddressLen {
		return "", "", badAddress(s, fmt.Sprintf("the address is longer than %d characters", maxAddressLen))
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", "", badAddress(s, "the address has no @domain part")
	}
	local, domain = s[:at], s[at+1:]
	if why := localProblem(local, delim); why != "" {
		return "", "", badAddress(s, why)
	}
	if why := domainProblem(domain); why != "" {
		return "", "", badAddress(s, why)
	}
	return strings.ToLower(local), strings.ToLower(domain), nil
}

// canonical returns the lower-case form of a syntactically valid address.
func canonical(s, delim string) (string, error) {
	local, domain, err := splitAddress(s, delim)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// splitCanonical splits an address already known to be canonical.
func splitCanonical(addr string) (local, domain string) {
	at := strings.LastIndexByte(addr, '@')
	return addr[:at], addr[at+1:]
}

// checkPassword enforces what a new password must be: 1 to 1024 bytes, no
// line break (it has to fit one line of the CLI's input and of a protocol
// command) and no NUL (RFC 4616 §2 SASL PLAIN separates fields with NUL, so
// such a password could never be sent).
func checkPassword(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: it is empty", ErrBadPassword)
	case len(p) > maxPasswordLen:
		return fmt.Errorf("%w: it is longer than %d bytes", ErrBadPassword, maxPasswordLen)
	case strings.ContainsAny(p, "\r\n"):
		return fmt.Errorf("%w: it contains a line break", ErrBadPassword)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("%w: it contains a NUL byte", ErrBadPassword)
	}
	return nil
}

// maxPasswordLen is the longest password accepted, for new passwords and
// for login attempts alike.
const maxPasswordLen = 1024
