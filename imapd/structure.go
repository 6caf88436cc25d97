package imapd

import (
	"bufio"
	"io"
	"math"
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// parseHead reads only the message header: enough for ENVELOPE and for
// the HEADER, HEADER.FIELDS and TEXT sections of the message itself.
func parseHead(r io.Reader, size int64) (*entity, error) {
	p := &layoutParser{br: bufio.NewReaderSize(r, 4096)}
	root := &entity{}
	f := &frame{e: root}
	for {
		line, total, eol, err := p.readLine()
		if total > 0 {
			p.off += total
			if len(line) == 0 && eol > 0 && int64(eol) == total {
				root.BodyStart = p.off
				p.parseHeader(f)
				root.End = max(size, p.off)
				return root, nil
			}
			p.keepHeaderLine(f, line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	root.BodyStart = p.off
	root.End = p.off
	p.parseHeader(f)
	return root, nil
}

// newMeta builds what FETCH needs from a parsed layout: the envelopes of
// the message and of the messages inside it, and the body structure.
func newMeta(root *entity, size int64, full bool) *msgMeta {
	setEnvelopes(root, true)
	return metaOf(root, size, full)
}

// metaOf is newMeta for a layout whose envelopes are set.
func metaOf(root *entity, size int64, full bool) *msgMeta {
	m := &msgMeta{size: size, layout: root, full: full, envelope: root.Envelope}
	m.cost = metaCost(root)
	if full {
		m.structure = bodyStructure(root)
	}
	return m
}

// setEnvelopes makes the ENVELOPE of every entity that is a message.
func setEnvelopes(e *entity, isMessage bool) {
	if isMessage {
		e.Envelope = extractEnvelope(e.Header)
	}
	for _, p := range e.Parts {
		setEnvelopes(p, false)
	}
	if e.Message != nil {
		setEnvelopes(e.Message, true)
	}
}

// bodyStructure gives the extended BODYSTRUCTURE of an entity (RFC 9051
// §7.5.2). BODY, the non-extended form, is written by the library from
// the same value.
func bodyStructure(e *entity) imap.BodyStructure {
	if e.isMultipart() {
		mp := &imap.BodyStructureMultiPart{
			Subtype: e.Subtype,
			Extended: &imap.BodyStructureMultiPartExt{
				Params:      e.Params,
				Disposition: e.Disposition,
				Language:    e.Language,
				Location:    e.Location,
			},
		}
		for _, c := range e.Parts {
			mp.Children = append(mp.Children, bodyStructure(c))
		}
		if len(mp.Children) == 0 {
			// RFC 9051 §9 body-type-mpart needs at least one body; a
			// multipart without parts (or past our limits) gets an empty one.
			mp.Children = []imap.BodyStructure{emptyTextPart()}
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type:        e.Type,
		Subtype:     e.Subtype,
		Params:      e.Params,
		ID:          e.ID,
		Description: e.Description,
		Encoding:    e.Encoding,
		Size:        clampU32(e.End - e.BodyStart),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: e.Disposition,
			Language:    e.Language,
			Location:    e.Location,
		},
	}
	switch {
	case e.isMessage():
		// RFC 9051 §9 body-type-msg: envelope, body and lines are required.
		inner := &imap.BodyStructureMessageRFC822{NumLines: e.BodyLines}
		if e.Message != nil {
			inner.Envelope = e.Message.Envelope
			if inner.Envelope == nil {
				inner.Envelope = &imap.Envelope{}
			}
			inner.BodyStructure = bodyStructure(e.Message)
		} else {
			inner.Envelope = &imap.Envelope{}
			inner.BodyStructure = emptyTextPart()
		}
		sp.MessageRFC822 = inner
	case e.Type == "text":
		sp.Text = &imap.BodyStructureText{NumLines: e.BodyLines}
	}
	return sp
}

func emptyTextPart() imap.BodyStructure {
	return &imap.BodyStructureSinglePart{
		Type: "text", Subtype: "plain",
		Params:   map[string]string{"charset": "us-ascii"},
		Encoding: "7bit",
		Text:     &imap.BodyStructureText{},
		Extended: &imap.BodyStructureSinglePartExt{},
	}
}

func disposition(h textproto.Header) *imap.BodyStructureDisposition {
	v := h.Get("Content-Disposition")
	if strings.TrimSpace(v) == "" {
		return nil
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil && d == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: d, Params: params}
}

func language(h textproto.Header) []string {
	v := h.Get("Content-Language")
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func clampU32(n int64) uint32 {
	switch {
	case n < 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}

// metaCost estimates the memory a layout holds, for the cache's budget.
func metaCost(e *entity) int {
	n := 512 + e.headerBytes
	for _, p := range e.Parts {
		n += metaCost(p)
	}
	if e.Message != nil {
		n += metaCost(e.Message)
	}
	return n
}
