package imapd

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// The form in which a message's parsed structure is kept in the store
// (mailbox.MetaFolder, beside the UID index), so that ENVELOPE,
// BODYSTRUCTURE and the part map are computed once per message, not again
// after a restart. It is the MIME layout (the offsets of every entity) and,
// of each entity's header, only the fields the structure and the envelope
// are made of: Content-* and the RFC 9051 §7.5.2 envelope fields. ENVELOPE
// and BODYSTRUCTURE are rebuilt from those by the same code that builds
// them from the message, so they cannot differ.
//
// A meta decoded from this form is "trimmed": SEARCH HEADER and TEXT, which
// need every header field, parse the message again (search.go).
//
//	version:byte flags:byte size:uvarint entity
//	entity = headerStart bodyStart end bodyLines:uvarint
//	         header:uvarint-length bytes
//	         parts:uvarint entity*  hasMessage:byte [entity]
const (
	metaCodecVersion = 1
	metaFlagFull     = 1
)

var errBadMeta = errors.New("imapd: stored message structure does not decode")

// keptFields are the header fields the stored form keeps besides Content-*.
var keptFields = []string{"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-Id"}

func encodeMeta(m *msgMeta) []byte {
	buf := make([]byte, 0, 512)
	buf = append(buf, metaCodecVersion, 0)
	if m.full {
		buf[1] |= metaFlagFull
	}
	buf = binary.AppendUvarint(buf, uint64(m.size))
	return encodeEntity(buf, m.layout)
}

func encodeEntity(buf []byte, e *entity) []byte {
	for _, v := range []int64{e.HeaderStart, e.BodyStart, e.End, e.BodyLines} {
		buf = binary.AppendUvarint(buf, uint64(max(v, 0)))
	}
	hdr := keptHeader(e.Header)
	buf = binary.AppendUvarint(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	buf = binary.AppendUvarint(buf, uint64(len(e.Parts)))
	for _, p := range e.Parts {
		buf = encodeEntity(buf, p)
	}
	if e.Message != nil {
		buf = append(buf, 1)
		return encodeEntity(buf, e.Message)
	}
	return append(buf, 0)
}

// keptHeader is the raw text of the fields of h that the stored form keeps,
// in message order.
func keptHeader(h textproto.Header) []byte {
	var fields [][]byte
	for f := h.Fields(); f.Next(); {
		k := f.Key()
		if !strings.HasPrefix(strings.ToLower(k), "content-") && !slices.Contains(keptFields, k) {
			continue
		}
		if raw, err := f.Raw(); err == nil {
			fields = append(fields, raw)
		}
	}
	// Fields iterates last field first (envelope.go, firstField).
	slices.Reverse(fields)
	var out []byte
	for _, f := range fields {
		out = append(out, f...)
	}
	return out
}

// decodeMeta reads the stored form. size is the message's size now; a
// record made for another size is refused.
func decodeMeta(b []byte, size int64) (*msgMeta, error) {
	if len(b) < 2 || b[0] != metaCodecVersion {
		return nil, errBadMeta
	}
	d := &metaDecoder{b: b[2:]}
	full := b[1]&metaFlagFull != 0
	if int64(d.uvarint()) != size || d.err != nil {
		return nil, errBadMeta
	}
	root := d.entity(0, false, size)
	if d.err != nil || len(d.b) != 0 {
		return nil, errBadMeta
	}
	m := newMeta(root, size, full)
	m.trimmed = true
	return m, nil
}

type metaDecoder struct {
	b     []byte
	count int
	err   error
}

func (d *metaDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadMeta
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *metaDecoder) entity(depth int, inDigest bool, size int64) *entity {
	d.count++
	if depth > maxMIMEDepth+1 || d.count > maxMIMEEntities+1 {
		d.err = errBadMeta
	}
	e := &entity{
		HeaderStart: int64(d.uvarint()),
		BodyStart:   int64(d.uvarint()),
		End:         int64(d.uvarint()),
		BodyLines:   int64(d.uvarint()),
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) || e.HeaderStart < 0 || e.HeaderStart > e.BodyStart ||
		e.BodyStart > e.End || e.End > size || e.BodyLines < 0 {
		d.err = errBadMeta
		return e
	}
	e.setHeader(d.b[:n:n], inDigest)
	d.b = d.b[n:]
	parts := d.uvarint()
	if parts > uint64(len(d.b)) {
		d.err = errBadMeta
	}
	for i := uint64(0); i < parts && d.err == nil; i++ {
		e.Parts = append(e.Parts, d.entity(depth+1, e.isMultipart() && e.Subtype == "digest", size))
	}
	if d.err != nil || len(d.b) == 0 {
		d.err = errBadMeta
		return e
	}
	has := d.b[0]
	d.b = d.b[1:]
	switch has {
	case 0:
	case 1:
		e.Message = d.entity(depth+1, false, size)
	default:
		d.err = errBadMeta
	}
	return e
}
