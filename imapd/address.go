package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Address lists for ENVELOPE (RFC 9051 §7.5.2), parsed from the raw
// header value as RFC 5322 §3.4 writes them (with the obsolete forms of
// §4.4 that mail in the wild still uses). Nothing is decoded: a display
// name keeps its encoded-words (RFC 2047) and its 8-bit octets as they
// are, losing only RFC 5322 quoting; the client decodes. Any input gives
// a list; what cannot be read is skipped, never an error.
//
// In the list, a group (RFC 5322 §3.4, "undisclosed-recipients:;") is a
// start marker with the group name as mailbox and no host, its members,
// then an end marker with neither (RFC 9051 §9, addr-host and
// addr-mailbox).

// Placeholders for the parts an address lacks, so that it is never read
// as a group marker (a NIL host starts a group). The names are the ones
// Dovecot sends.
const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
)

// maxAddresses bounds the addresses taken from one field.
const maxAddresses = 1000

type addrTokKind int

const (
	tokAtom      addrTokKind = iota // atext run; 8-bit octets included (RFC 6532)
	tokQuoted                       // quoted-string; text has the quoting removed
	tokComment                      // comment; text without the parentheses
	tokDomainLit                    // domain-literal, brackets included
	tokSpecial                      // one of < > : ; @ , . and stray ) ] \
)

type addrTok struct {
	kind  addrTokKind
	text  string
	space bool // white space or a comment came before it
}

func (t addrTok) is(c byte) bool {
	return t.kind == tokSpecial && t.text[0] == c
}

// isWord: an atom or a quoted-string.
func (t addrTok) isWord() bool { return t.kind == tokAtom || t.kind == tokQuoted }

// lexAddresses cuts a header value into tokens. Unterminated quoted
// strings, comments and domain literals end at the end of the value.
func lexAddresses(s string) []addrTok {
	var toks []addrTok
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
		case c == '(':
			text, n := scanNested(s[i:])
			toks = append(toks, addrTok{kind: tokComment, text: text, space: space})
			space = true // a comment separates like white space
			i += n
		case c == '"':
			text, n := scanQuoted(s[i:], '"')
			toks = append(toks, addrTok{kind: tokQuoted, text: text, space: space})
			space = false
			i += n
		case c == '[':
			n := strings.IndexByte(s[i:], ']') + 1
			if n == 0 {
				n = len(s) - i
			}
			lit := strings.NewReplacer("\r", "", "\n", "").Replace(s[i : i+n])
			toks = append(toks, addrTok{kind: tokDomainLit, text: lit, space: space})
			space = false
			i += n
		case strings.IndexByte(`<>:;@,.)]\`, c) >= 0:
			toks = append(toks, addrTok{kind: tokSpecial, text: s[i : i+1], space: space})
			space = false
			i++
		default:
			j := i
			for j < len(s) && !isAddrDelim(s[j]) {
				j++
			}
			toks = append(toks, addrTok{kind: tokAtom, text: s[i:j], space: space})
			space = false
			i = j
		}
	}
	return toks
}

func isAddrDelim(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || strings.IndexByte(`()<>[]:;@\,."`, c) >= 0
}

// scanQuoted reads a quoted-string at the start of s (s[0] is the
// quote): its text without the quoting, and the octets it took.
func scanQuoted(s string, end byte) (string, int) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == end:
			return b.String(), i + 1
		case c == '\\' && i+1 < len(s):
			if n := s[i+1]; n != '\r' && n != '\n' {
				b.WriteByte(n)
			}
			i += 2
		case c == '\r' || c == '\n':
			i++ // folding inside the string
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i
}

// scanNested reads a comment at the start of s (s[0] is "("), with
// nested comments: its text without the outer parentheses and quoting.
func scanNested(s string) (string, int) {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\r' && s[i] != '\n' {
				b.WriteByte(s[i])
			}
			continue
		case c == '(':
			depth++
			if depth == 1 {
				continue
			}
		case c == ')':
			depth--
			if depth == 0 {
				return b.String(), i + 1
			}
		case c == '\r' || c == '\n':
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), len(s)
}

// parseAddressList reads an address-list or mailbox-list (RFC 5322 §3.4).
func parseAddressList(value string) []imap.Address {
	p := &addrParser{toks: lexAddresses(value)}
	for !p.done() && len(p.out) < maxAddresses {
		p.address(false)
	}
	return p.out
}

type addrParser struct {
	toks []addrTok
	i    int
	out  []imap.Address
}

func (p *addrParser) done() bool { return p.i >= len(p.toks) }

func (p *addrParser) peek() addrTok {
	if p.done() {
		return addrTok{kind: tokSpecial, text: "\x00"} // matches no special
	}
	return p.toks[p.i]
}

// address reads one address, or a whole group. It always consumes a
// token, except at the ";" that ends the group it is inside.
func (p *addrParser) address(inGroup bool) {
	if t := p.peek(); t.is(',') {
		p.i++
		return
	} else if t.is(';') {
		if !inGroup {
			p.i++ // a stray group end
		}
		return
	}
	// A phrase (display name, group name) or the local part of a bare
	// addr-spec: words and dots (RFC 5322 §4.1 obs-phrase), comments
	// aside.
	start := p.i
	var comment string
	for !p.done() {
		t := p.peek()
		if t.kind == tokComment {
			comment = t.text
		} else if !t.isWord() && !t.is('.') {
			break
		}
		p.i++
	}
	words := p.toks[start:p.i]
	switch t := p.peek(); {
	case t.is(':') && !inGroup:
		p.i++
		p.group(phraseText(words))
	case t.is('<'):
		p.i++
		local, domain := p.angleAddr()
		p.add(phraseText(words), local, domain)
	case t.is('@'):
		p.i++
		domain, after := p.domain()
		name := comment
		if after != "" {
			name = after // "addr (Real Name)", the old way of naming
		}
		p.add(name, localText(words), domain)
	default:
		if local := localText(words); local != "" {
			// A word alone ("undisclosed-recipients" without ":;"):
			// a mailbox without a domain.
			p.add(comment, local, "")
		}
		if p.i == start || (!p.done() && !t.is(',') && !t.is(';')) {
			p.i++ // junk: a stray ">", ")", "@@", a second ":"...
		}
	}
}

// group reads a group's members after its ":" up to ";".
func (p *addrParser) group(name string) {
	if name != "" {
		p.out = append(p.out, imap.Address{Mailbox: name})
	}
	for !p.done() && len(p.out) < maxAddresses {
		if p.peek().is(';') {
			p.i++
			break
		}
		p.address(true)
	}
	if name != "" {
		p.out = append(p.out, imap.Address{})
	}
}

// angleAddr reads what follows "<" up to ">": an obsolete source route
// (RFC 5322 §4.4, "@a,@b:"), skipped, then local-part "@" domain.
func (p *addrParser) angleAddr() (local, domain string) {
	if p.peek().is('@') {
		for !p.done() && !p.peek().is(':') && !p.peek().is('>') {
			p.i++
		}
		if p.peek().is(':') {
			p.i++
		}
	}
	start := p.i
	for !p.done() && (p.peek().isWord() || p.peek().is('.') || p.peek().kind == tokComment) {
		p.i++
	}
	local = localText(p.toks[start:p.i])
	if p.peek().is('@') {
		p.i++
		domain, _ = p.domain()
	}
	for !p.done() && !p.peek().is('>') && !p.peek().is(',') && !p.peek().is(';') {
		p.i++ // junk before ">"
	}
	if p.peek().is('>') {
		p.i++
	}
	return local, domain
}

// domain reads a dot-atom or domain-literal (and the obsolete forms with
// white space and comments between the parts). after is the text of a
// comment that follows it.
func (p *addrParser) domain() (domain, after string) {
	var b strings.Builder
	for !p.done() {
		t := p.peek()
		switch {
		case t.kind == tokComment:
			after = t.text
		case t.kind == tokAtom, t.kind == tokDomainLit, t.is('.'):
			b.WriteString(t.text)
			after = ""
		default:
			return b.String(), after
		}
		p.i++
	}
	return b.String(), after
}

// add appends a mailbox, unless it is wholly empty ("<>").
func (p *addrParser) add(name, local, domain string) {
	if name == "" && local == "" && domain == "" {
		return
	}
	if local == "" {
		local = missingMailbox
	}
	if domain == "" {
		domain = missingDomain
	}
	p.out = append(p.out, imap.Address{Name: name, Mailbox: local, Host: domain})
}

// phraseText is a display name: the words with RFC 5322 quoting removed,
// one space where the header had white space or comments.
func phraseText(words []addrTok) string {
	var b strings.Builder
	for _, t := range words {
		if t.kind == tokComment {
			continue
		}
		if t.space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// localText is a local part: the words and dots without white space or
// comments, quoting removed (RFC 9051 §9 addr-mailbox).
func localText(words []addrTok) string {
	var b strings.Builder
	for _, t := range words {
		if t.kind != tokComment {
			b.WriteString(t.text)
		}
	}
	return b.String()
}
