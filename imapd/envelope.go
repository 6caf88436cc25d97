package imapd

import (
	"bytes"
	"net/mail"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// extractEnvelope builds ENVELOPE from a message header (RFC 9051 §7.5.2:
// "fields of the envelope structure are ... the header fields as they
// appear in the message"). Subject and display names are the raw header
// text, unfolded (RFC 5322 §2.2.3), encoded-words and 8-bit octets kept:
// decoding is the client's. What this holds is cached and shared by all
// sessions; wireEnvelope fits it to each client (downgrade.go).
//
// Where a field occurs more than once (RFC 5322 §3.6 allows one), the
// first is used.
//
// The library writes the envelope, and its imap.Envelope shape limits
// what can be raw: the date is a time.Time that it formats again (a date
// that does not parse is NIL), and Message-ID and In-Reply-To are message
// IDs that it puts back between "<" and ">".
func extractEnvelope(h textproto.Header) *imap.Envelope {
	env := &imap.Envelope{
		Subject: headerText(h, "Subject"),
		From:    headerAddrs(h, "From"),
		Sender:  headerAddrs(h, "Sender"),
		ReplyTo: headerAddrs(h, "Reply-To"),
		To:      headerAddrs(h, "To"),
		Cc:      headerAddrs(h, "Cc"),
		Bcc:     headerAddrs(h, "Bcc"),
	}
	if d := headerText(h, "Date"); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			env.Date = t
		}
	}
	if ids := msgIDs(headerText(h, "Message-Id")); len(ids) > 0 {
		env.MessageID = ids[0]
	}
	env.InReplyTo = msgIDs(headerText(h, "In-Reply-To"))
	return env
}

// firstField gives the raw text of the first field named k, name and
// colon included. parseHeaderFields adds the fields in message order and
// textproto iterates a key's fields last added first, so the first field
// of the message is the last one seen.
func firstField(h textproto.Header, k string) ([]byte, bool) {
	var raw []byte
	found := false
	for fs := h.FieldsByKey(k); fs.Next(); {
		if b, err := fs.Raw(); err == nil {
			raw, found = b, true
		}
	}
	return raw, found
}

// headerText is the unfolded value of the first field named k: line ends
// removed (RFC 5322 §2.2.3: "unfolding is accomplished by simply removing
// any CRLF that is immediately followed by WSP"), white space at both
// ends trimmed, nothing else changed.
func headerText(h textproto.Header, k string) string {
	raw, ok := firstField(h, k)
	if !ok {
		return ""
	}
	if i := bytes.IndexByte(raw, ':'); i >= 0 {
		raw = raw[i+1:]
	}
	var b strings.Builder
	b.Grow(len(raw))
	for _, c := range raw {
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return strings.Trim(b.String(), " \t")
}

// headerAddrs parses the first field named k as an address list; nil
// when absent or empty (RFC 9051 §7.5.2: the library then gives Sender
// and Reply-To the value of From).
func headerAddrs(h textproto.Header, k string) []imap.Address {
	v := headerText(h, k)
	if v == "" {
		return nil
	}
	return parseAddressList(v)
}

// msgIDs takes the message IDs out of a Message-ID or In-Reply-To value:
// each "<...>" without its brackets (the library adds them back). A value
// with no brackets that is one word is taken as one ID; anything else
// without brackets (obsolete phrases, RFC 5322 §4.5.4) gives none.
func msgIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			break
		}
		if id := v[i+1 : i+j]; id != "" {
			ids = append(ids, id)
		}
		v = v[i+j+1:]
	}
	if ids == nil && v != "" && !strings.ContainsAny(v, " \t<>") {
		ids = []string{v}
	}
	return ids
}
