package imapd

import (
	"bytes"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// locate finds the entity that section part numbers name (RFC 9051
// §6.4.5): parts of a multipart are numbered from 1; a message that is
// not multipart has one part, 1, its body; the parts of a message/rfc822
// part are those of the message it holds. It returns nil for a part that
// does not exist.
func locate(root *entity, part []int) *entity {
	cur, isMsg := root, true
	for _, n := range part {
		if n < 1 {
			return nil
		}
		switch {
		case cur.isMultipart():
			if n > len(cur.Parts) {
				return nil
			}
			cur = cur.Parts[n-1]
		case isMsg:
			if n != 1 {
				return nil
			}
		case cur.isMessage() && cur.Message != nil:
			m := cur.Message
			if m.isMultipart() {
				if n > len(m.Parts) {
					return nil
				}
				cur = m.Parts[n-1]
			} else {
				if n != 1 {
					return nil
				}
				cur = m
			}
		default:
			return nil
		}
		isMsg = false
	}
	return cur
}

// span is a byte range of the message content.
type span struct{ start, end int64 }

func (s span) len() int64 { return s.end - s.start }

// bodySpan gives the bytes a BODY[...] section names, before any partial
// and header-field filtering. ok is false for a section that does not
// exist; it is answered with an empty string.
func bodySpan(root *entity, size int64, sec *imap.FetchItemBodySection) (sp span, ok bool) {
	if len(sec.Part) == 0 {
		switch sec.Specifier {
		case imap.PartSpecifierNone:
			return span{0, size}, true
		case imap.PartSpecifierHeader:
			return span{root.HeaderStart, root.BodyStart}, true
		case imap.PartSpecifierText:
			return span{root.BodyStart, root.End}, true
		}
		return span{}, false // MIME needs a part number
	}
	e := locate(root, sec.Part)
	if e == nil {
		return span{}, false
	}
	switch sec.Specifier {
	case imap.PartSpecifierNone:
		return span{e.BodyStart, e.End}, true
	case imap.PartSpecifierMIME:
		return span{e.HeaderStart, e.BodyStart}, true
	case imap.PartSpecifierHeader, imap.PartSpecifierText:
		// RFC 9051 §6.4.5: HEADER and TEXT after part numbers only for a
		// part of type MESSAGE/RFC822 or MESSAGE/GLOBAL.
		if !e.isMessage() || e.Message == nil {
			return span{}, false
		}
		m := e.Message
		if sec.Specifier == imap.PartSpecifierHeader {
			return span{m.HeaderStart, m.BodyStart}, true
		}
		return span{m.BodyStart, m.End}, true
	}
	return span{}, false
}

// partial applies <offset.length> (RFC 9051 §6.4.5): beyond the end is
// the empty string.
func partialSpan(sp span, p *imap.SectionPartial) span {
	if p == nil {
		return sp
	}
	start := sp.start + max(p.Offset, 0)
	if start > sp.end || p.Offset < 0 {
		return span{sp.end, sp.end}
	}
	end := min(sp.end, start+max(p.Size, 0))
	return span{start, end}
}

func partialBytes(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset < 0 || p.Offset >= int64(len(b)) {
		return []byte{}
	}
	b = b[p.Offset:]
	if p.Size >= 0 && p.Size < int64(len(b)) {
		b = b[:p.Size]
	}
	return b
}

// filterHeader keeps (or, with not, drops) the fields named in names from
// raw header text that may end with the blank line. RFC 9051 §6.4.5: the
// blank line is kept; field names match without regard to case.
func filterHeader(raw []byte, names []string, not bool) []byte {
	blank := bytes.HasSuffix(raw, []byte("\n\r\n")) || bytes.Equal(raw, []byte("\r\n")) ||
		bytes.HasSuffix(raw, []byte("\n\n")) || bytes.Equal(raw, []byte("\n"))
	body := raw
	if blank {
		body = bytes.TrimSuffix(body, []byte("\n"))
		body = bytes.TrimSuffix(body, []byte("\r"))
	}
	var out bytes.Buffer
	for _, f := range splitHeader(body) {
		match := false
		for _, n := range names {
			if strings.EqualFold(f.name, n) {
				match = true
				break
			}
		}
		if match != not {
			out.Write(f.raw)
		}
	}
	if blank {
		out.WriteString("\r\n")
	}
	return out.Bytes()
}
