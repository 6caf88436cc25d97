package imapd

import (
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// 8-bit header text in ENVELOPE and BODYSTRUCTURE.
//
// The cached envelope and structure hold header text as the message has
// it: raw 8-bit octets (RFC 6532 headers, or plain junk) and parameters
// that RFC 2231 decoding made UTF-8. Before they are written, they are
// fitted to the client:
//
//   - A client that enabled UTF8=ACCEPT (RFC 9755, formerly RFC 6855), or
//     IMAP4rev2, which includes it (RFC 9051), gets valid UTF-8 as it is;
//     the library then sends it in a quoted string. Any other client gets
//     no 8-bit octet in these strings at all (RFC 9755).
//   - Where something cannot go as it is (8-bit to a client without
//     UTF-8, octets that are not UTF-8, NUL, CR or LF), it is encoded:
//     subject and display names as an RFC 2047 encoded-word, parameters
//     in RFC 2231 extended notation (name*=charset''%XX), an address whose
//     local part or domain cannot go as it is as an empty group named by
//     an encoded-word of the address (as RFC 6857 downgrades a non-ASCII
//     address for a client that cannot take it),
//     message IDs as NIL, and the other fields (IDs, locations, languages,
//     encodings: ASCII tokens by their grammar) with '?' for each
//     offending octet. The charset named is "utf-8", or "unknown-8bit"
//     (RFC 1428) when the octets are not UTF-8.
//
// A library limit remains: imapserver writes the subject and display
// names through mime.QEncoding, so a UTF-8 client also gets those as
// encoded-words, never as raw UTF-8.

// sendable reports whether s may be written as it is: no NUL, CR or LF
// (RFC 9051 §4.3, quoted strings and literals), and 8-bit only when it is
// UTF-8 and the client takes UTF-8.
func sendable(s string, utf8OK bool) bool {
	high := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0 || c == '\r' || c == '\n':
			return false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return !high || (utf8OK && utf8.ValidString(s))
}

// wordCharset names the charset of s for an encoded-word or RFC 2231
// value.
func wordCharset(s string) string {
	if utf8.ValidString(s) {
		return "utf-8"
	}
	return "unknown-8bit"
}

// encodeText makes unstructured text (a subject) sendable: an RFC 2047
// encoded-word if it is not.
func encodeText(s string, utf8OK bool) string {
	if sendable(s, utf8OK) {
		return s
	}
	return mime.QEncoding.Encode(wordCharset(s), s)
}

// encodePhrase makes a phrase (display name, group name) sendable. B
// encoding keeps the word within the characters RFC 2047 §5(3) allows in
// a phrase.
func encodePhrase(s string, utf8OK bool) string {
	if sendable(s, utf8OK) {
		return s
	}
	return mime.BEncoding.Encode(wordCharset(s), s)
}

// asciiToken makes a token-like field sendable by putting '?' for each
// octet that may not go.
func asciiToken(s string, utf8OK bool) string {
	if sendable(s, utf8OK) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c == 0 || c == '\r' || c == '\n' || c >= utf8.RuneSelf {
			b[i] = '?'
		}
	}
	return string(b)
}

// wireEnvelope fits an envelope to the client (see above). It returns env
// itself when nothing needs to change.
func wireEnvelope(env *imap.Envelope, utf8OK bool) *imap.Envelope {
	if env == nil || envelopeSendable(env, utf8OK) {
		return env
	}
	out := *env
	out.Subject = encodeText(env.Subject, utf8OK)
	out.From = wireAddrs(env.From, utf8OK)
	out.Sender = wireAddrs(env.Sender, utf8OK)
	out.ReplyTo = wireAddrs(env.ReplyTo, utf8OK)
	out.To = wireAddrs(env.To, utf8OK)
	out.Cc = wireAddrs(env.Cc, utf8OK)
	out.Bcc = wireAddrs(env.Bcc, utf8OK)
	if !sendable(env.MessageID, utf8OK) {
		out.MessageID = ""
	}
	out.InReplyTo = nil
	for _, id := range env.InReplyTo {
		if sendable(id, utf8OK) {
			out.InReplyTo = append(out.InReplyTo, id)
		}
	}
	return &out
}

func envelopeSendable(env *imap.Envelope, utf8OK bool) bool {
	if !sendable(env.Subject, utf8OK) || !sendable(env.MessageID, utf8OK) {
		return false
	}
	for _, id := range env.InReplyTo {
		if !sendable(id, utf8OK) {
			return false
		}
	}
	for _, l := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		for _, a := range l {
			if !sendable(a.Name, utf8OK) || !sendable(a.Mailbox, utf8OK) || !sendable(a.Host, utf8OK) {
				return false
			}
		}
	}
	return true
}

// wireAddrs fits an address list. An address whose local part or domain
// cannot go as it is becomes an empty group whose name is an encoded-word
// of the whole address, so the client still shows who it was.
func wireAddrs(in []imap.Address, utf8OK bool) []imap.Address {
	if in == nil {
		return nil
	}
	out := make([]imap.Address, 0, len(in))
	for _, a := range in {
		switch {
		case a.Host == "":
			// A group marker: the mailbox is the group's display name.
			a.Mailbox = encodePhrase(a.Mailbox, utf8OK)
			out = append(out, a)
		case sendable(a.Mailbox, utf8OK) && sendable(a.Host, utf8OK):
			a.Name = encodePhrase(a.Name, utf8OK)
			out = append(out, a)
		default:
			whole := a.Mailbox + "@" + a.Host
			if a.Name != "" {
				whole = a.Name + " <" + whole + ">"
			}
			out = append(out, imap.Address{Mailbox: encodePhrase(whole, false)}, imap.Address{})
		}
	}
	return out
}

// wireStructure fits a BODYSTRUCTURE to the client. It returns bs itself
// when nothing needs to change.
func wireStructure(bs imap.BodyStructure, utf8OK bool) imap.BodyStructure {
	if structureSendable(bs, utf8OK) {
		return bs
	}
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		out := *bs
		out.Type = asciiToken(bs.Type, utf8OK)
		out.Subtype = asciiToken(bs.Subtype, utf8OK)
		out.Params = wireParams(bs.Params, utf8OK)
		out.ID = asciiToken(bs.ID, utf8OK)
		// RFC 2047 §5(1): encoded-words may stand in Content-Description.
		out.Description = encodeText(bs.Description, utf8OK)
		out.Encoding = asciiToken(bs.Encoding, utf8OK)
		if m := bs.MessageRFC822; m != nil {
			out.MessageRFC822 = &imap.BodyStructureMessageRFC822{
				Envelope:      wireEnvelope(m.Envelope, utf8OK),
				BodyStructure: wireStructure(m.BodyStructure, utf8OK),
				NumLines:      m.NumLines,
			}
		}
		if x := bs.Extended; x != nil {
			out.Extended = &imap.BodyStructureSinglePartExt{
				Disposition: wireDisposition(x.Disposition, utf8OK),
				Language:    wireLanguage(x.Language, utf8OK),
				Location:    asciiToken(x.Location, utf8OK),
			}
		}
		return &out
	case *imap.BodyStructureMultiPart:
		out := *bs
		out.Subtype = asciiToken(bs.Subtype, utf8OK)
		out.Children = make([]imap.BodyStructure, len(bs.Children))
		for i, c := range bs.Children {
			out.Children[i] = wireStructure(c, utf8OK)
		}
		if x := bs.Extended; x != nil {
			out.Extended = &imap.BodyStructureMultiPartExt{
				Params:      wireParams(x.Params, utf8OK),
				Disposition: wireDisposition(x.Disposition, utf8OK),
				Language:    wireLanguage(x.Language, utf8OK),
				Location:    asciiToken(x.Location, utf8OK),
			}
		}
		return &out
	}
	return bs
}

func structureSendable(bs imap.BodyStructure, utf8OK bool) bool {
	all := func(ss ...string) bool {
		for _, s := range ss {
			if !sendable(s, utf8OK) {
				return false
			}
		}
		return true
	}
	params := func(m map[string]string) bool {
		for k, v := range m {
			if !all(k, v) {
				return false
			}
		}
		return true
	}
	disp := func(d *imap.BodyStructureDisposition) bool {
		return d == nil || (all(d.Value) && params(d.Params))
	}
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		if !all(bs.Type, bs.Subtype, bs.ID, bs.Description, bs.Encoding) || !params(bs.Params) {
			return false
		}
		if m := bs.MessageRFC822; m != nil {
			if (m.Envelope != nil && !envelopeSendable(m.Envelope, utf8OK)) || !structureSendable(m.BodyStructure, utf8OK) {
				return false
			}
		}
		if x := bs.Extended; x != nil {
			return disp(x.Disposition) && all(x.Language...) && all(x.Location)
		}
	case *imap.BodyStructureMultiPart:
		if !all(bs.Subtype) {
			return false
		}
		for _, c := range bs.Children {
			if !structureSendable(c, utf8OK) {
				return false
			}
		}
		if x := bs.Extended; x != nil {
			return params(x.Params) && disp(x.Disposition) && all(x.Language...) && all(x.Location)
		}
	}
	return true
}

func wireDisposition(d *imap.BodyStructureDisposition, utf8OK bool) *imap.BodyStructureDisposition {
	if d == nil {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: asciiToken(d.Value, utf8OK), Params: wireParams(d.Params, utf8OK)}
}

func wireLanguage(in []string, utf8OK bool) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, l := range in {
		out[i] = asciiToken(l, utf8OK)
	}
	return out
}

// wireParams fits body parameters: a value that cannot go as it is is
// sent in RFC 2231 §4 extended notation (the name with "*" after it; the
// value as charset, two apostrophes for no language, then the octets with
// %-escapes), which is also how such a value is written in a header.
func wireParams(in map[string]string, utf8OK bool) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		k = asciiToken(k, utf8OK)
		if sendable(v, utf8OK) {
			out[k] = v
			continue
		}
		out[strings.TrimSuffix(k, "*")+"*"] = rfc2231Value(v)
	}
	return out
}

// rfc2231Value is an RFC 2231 §4 extended value: the charset, two
// apostrophes, then the value with every octet that is not an
// attribute-char (RFC 2231 §7: no space, CTL, "*", "'", "%" or tspecial)
// %-escaped.
func rfc2231Value(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(wordCharset(v))
	b.WriteString("''")
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c > ' ' && c < 0x7f && !strings.ContainsRune(`*'%()<>@,;:\"/[]?=`, rune(c)) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
