package smtpd

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Address problems found by parseRecipient and parseSender. errors.go maps
// each to its reply.
var (
	errAddrSyntax   = errors.New("smtpd: bad address syntax")
	errAddrTooLong  = errors.New("smtpd: address too long")
	errAddrRouting  = errors.New("smtpd: address routing ('%', '!' or a second '@') refused")
	errAddrLiteral  = errors.New("smtpd: address literal refused")
	errAddrQuoted   = errors.New("smtpd: quoted local part refused")
	errAddrNonASCII = errors.New("smtpd: non-ASCII address without SMTPUTF8")
	errSenderSyntax = errors.New("smtpd: bad sender address syntax")
	errSenderASCII  = errors.New("smtpd: non-ASCII sender without SMTPUTF8")
)

// Size limits of RFC 5321 §4.5.3.1.
const (
	maxLocalPart = 64  // §4.5.3.1.1
	maxDomain    = 255 // §4.5.3.1.2
	maxPath      = 256 // §4.5.3.1.3, including the angle brackets
)

// recipient is a forward-path that passed parseRecipient.
type recipient struct {
	Local  string // as given (case kept; the users DB folds it)
	Domain string // lower case
}

func (r recipient) String() string { return r.Local + "@" + r.Domain }

// parseRecipient checks a forward-path as go-smtp hands it to Rcpt and
// refuses anything but a plain local-part@domain.
//
// go-smtp has already removed the angle brackets, dropped any source route
// ("@a,@b:", RFC 5321 §3.6.1 lets a server ignore it and go to the final
// destination, which is what happens) and removed the quotes of a quoted
// local part. So a quoted local part reaches us as its content: if that
// content is a valid dot-atom ("alice") it is the same mailbox as the
// unquoted form (RFC 5321 §4.1.2) and is accepted; anything a quoted string
// alone can carry (space, '"', '@', '\', ...) is refused here.
//
// smtputf8 says whether the MAIL command carried SMTPUTF8 (RFC 6531 §3.4):
// without it, non-ASCII addresses are refused (RFC 6531 §3.5).
func parseRecipient(addr string, smtputf8 bool) (recipient, error) {
	if len(addr)+2 > maxPath {
		return recipient{}, errAddrTooLong
	}
	if !utf8.ValidString(addr) {
		return recipient{}, errAddrSyntax
	}
	if hasControl(addr) {
		return recipient{}, errAddrSyntax
	}
	at := strings.IndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return recipient{}, errAddrSyntax
	}
	local, domain := addr[:at], addr[at+1:]
	if strings.IndexByte(domain, '@') >= 0 {
		// "a@b@c": the remains of a quoted "a@b" or a routing attempt.
		return recipient{}, errAddrRouting
	}
	if strings.HasPrefix(domain, "[") {
		// RFC 5321 §4.1.3 allows address literals; we do not deliver to
		// them (they bypass the local-domain check).
		return recipient{}, errAddrLiteral
	}
	// The "percent hack" and bang paths (RFC 5321 §3.6.1 and Appendix
	// C) are old relaying tricks: refused, never interpreted.
	if strings.ContainsAny(local, "%!") {
		return recipient{}, errAddrRouting
	}
	if err := checkLocalPart(local); err != nil {
		return recipient{}, err
	}
	if len(local) > maxLocalPart {
		return recipient{}, errAddrTooLong
	}
	if err := checkDomain(domain); err != nil {
		return recipient{}, err
	}
	if !smtputf8 && !isASCII(addr) {
		return recipient{}, errAddrNonASCII
	}
	return recipient{Local: local, Domain: strings.ToLower(domain)}, nil
}

// checkLocalPart accepts a dot-string (RFC 5321 §4.1.2): atoms of atext
// (RFC 5322 §3.2.3, with UTF-8 allowed as in RFC 6531 §3.3) joined by single
// dots.
func checkLocalPart(local string) error {
	if local == "" {
		return errAddrSyntax
	}
	for _, r := range local {
		if r != '.' && !isAtext(r) {
			// Only a quoted string could have brought this character.
			return errAddrQuoted
		}
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return errAddrSyntax
	}
	return nil
}

// checkDomain accepts a host name (RFC 5321 §4.1.2 Domain): dot-separated
// labels of letters, digits and inner hyphens, at most 63 octets each.
// Non-ASCII letters are allowed here (U-labels, RFC 6531 §3.3); whether they
// are allowed at all is the SMTPUTF8 check.
func checkDomain(domain string) error {
	if len(domain) > maxDomain {
		return errAddrTooLong
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || len(label) > 63 {
			return errAddrSyntax
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return errAddrSyntax
		}
		for _, r := range label {
			switch {
			case r == '-', r < utf8.RuneSelf && isAlnum(byte(r)):
			case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
			default:
				return errAddrSyntax
			}
		}
	}
	return nil
}

// parseSender checks a reverse-path as go-smtp hands it to Mail ("" is the
// null path) and returns it formatted for the Return-Path header field
// (RFC 5321 §4.4), with angle brackets.
//
// A sender is not a destination, so it is judged leniently: address
// literals, '%' and long local parts (SRS, VERP) are fine. What is refused
// is what would corrupt a header field (control characters, invalid UTF-8)
// and non-ASCII without SMTPUTF8 (RFC 6531 §3.4).
func parseSender(addr string, smtputf8 bool) (string, error) {
	if addr == "" {
		return "<>", nil
	}
	if len(addr) > 2*maxPath || !utf8.ValidString(addr) || hasControl(addr) {
		return "", errSenderSyntax
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", errSenderSyntax
	}
	local, domain := addr[:at], addr[at+1:]
	if strings.ContainsAny(domain, " \t<>\"\\") {
		return "", errSenderSyntax
	}
	if !smtputf8 && !isASCII(addr) {
		return "", errSenderASCII
	}
	return "<" + quoteLocal(local) + "@" + domain + ">", nil
}

// quoteLocal returns local as a dot-string when it is one, else as a
// quoted-string (RFC 5321 §4.1.2), undoing go-smtp's unquoting.
func quoteLocal(local string) string {
	if checkLocalPart(local) == nil {
		return local
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// isAtext reports whether r is atext (RFC 5322 §3.2.3), UTF-8 included
// (RFC 6531 §3.3).
func isAtext(r rune) bool {
	if r >= utf8.RuneSelf {
		return r != utf8.RuneError && unicode.IsPrint(r) && !unicode.IsSpace(r)
	}
	c := byte(r)
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hasControl reports ASCII control characters (CR and LF among them) and
// DEL, and the C1 controls.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
