package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// The MIME layout of a message: where, in the CRLF content the store
// gives, each entity's header and body begin and end. It is found in one
// streaming pass (no message is held in memory) and lets FETCH send any
// body section as a byte range of the file (RFC 9051 §6.4.5), and build
// BODYSTRUCTURE without reading the message again.
//
// Limits keep a hostile message from costing much: nesting depth,
// number of entities, header bytes kept for parsing per entity. Past
// them the rest is treated as opaque content, never as an error.
const (
	maxMIMEDepth    = 32
	maxMIMEEntities = 2000
	maxHeaderKeep   = 64 << 10
	// maxHeadersKept bounds the header text kept for one whole message;
	// past it, an entity keeps only its Content-* fields (what the
	// structure needs), at most maxContentKeep octets of them.
	maxHeadersKept   = 256 << 10
	maxContentKeep   = 4 << 10
	maxBoundaryLine  = 1024 // RFC 2046 §5.1.1: boundaries are at most 70 characters
	layoutReadBuffer = 32 << 10
)

// entity is one MIME entity: the message itself, a part of a multipart,
// or the message inside a message/rfc822 part.
type entity struct {
	HeaderStart int64 // first octet of the header
	BodyStart   int64 // first octet after the blank line ending the header
	End         int64 // one past the last octet of the body
	BodyLines   int64 // line ends within the body

	Header   textproto.Header
	Type     string // lower case, e.g. "text"
	Subtype  string // lower case, e.g. "plain"
	Params   map[string]string
	Encoding string // Content-Transfer-Encoding, lower case, "" if none

	// What BODYSTRUCTURE takes from the header besides the content type
	// (RFC 9051 §7.5.2), found once, when the header is read.
	ID, Description, Location string
	Disposition               *imap.BodyStructureDisposition
	Language                  []string
	// Envelope is ENVELOPE, for the entities that are messages: the root
	// and the message inside a message/rfc822 part (newMeta).
	Envelope *imap.Envelope

	Parts   []*entity // children of a multipart
	Message *entity   // the message inside message/rfc822 or message/global

	headerBytes int // header text kept in Header
}

func (e *entity) isMultipart() bool { return e.Type == "multipart" }

func (e *entity) isMessage() bool {
	return e.Type == "message" && (e.Subtype == "rfc822" || e.Subtype == "global")
}

type parseState int

const (
	inHeader parseState = iota
	inBody
)

// frame is an entity being parsed; the frames on the stack are the
// entity at the current line and all that enclose it.
type frame struct {
	e        *entity
	state    parseState
	hdr      []byte // header text kept for parsing, CRLF line ends
	nlBody   int64  // line ends before BodyStart
	boundary string // multipart delimiter, without the leading "--"
	closed   bool   // close delimiter seen: the rest is epilogue
	digest   bool   // parent is multipart/digest (RFC 2046 §5.1.5)
	depth    int
	lastKept bool // the previous header line was kept (for continuations)
	overKept int  // octets kept past the message's budget
}

// parseLayout reads a whole message and returns its layout. Only a read
// error of r is an error; any content has a layout.
func parseLayout(r io.Reader) (*entity, error) {
	p := &layoutParser{br: bufio.NewReaderSize(r, layoutReadBuffer)}
	root := &entity{}
	p.stack = []*frame{{e: root}}
	p.count = 1
	for {
		line, total, eol, err := p.readLine()
		if total > 0 {
			p.line(line, total, eol)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	end, nl := p.off, p.nl
	for j := len(p.stack) - 1; j >= 0; j-- {
		p.finish(p.stack[j], end, nl)
	}
	return root, nil
}

type layoutParser struct {
	br      *bufio.Reader
	buf     []byte // the current line, at most maxHeaderKeep octets of it
	stack   []*frame
	off     int64 // offset of the next line
	nl      int64 // line ends before off
	prevEOL int   // length of the previous line's end (0, 1 or 2)
	count   int   // entities made
	kept    int   // header octets kept so far, all entities
}

// readLine reads one line. line is its start (at most maxHeaderKeep
// octets, without the line end), total its whole length with the line
// end, eol the length of the line end (2 for CRLF, 1 for LF, 0 at EOF).
func (p *layoutParser) readLine() (line []byte, total int64, eol int, err error) {
	p.buf = p.buf[:0]
	var last2 [2]byte // the last two octets of the line so far
	for {
		chunk, rerr := p.br.ReadSlice('\n')
		total += int64(len(chunk))
		if room := maxHeaderKeep - len(p.buf); room > 0 {
			p.buf = append(p.buf, chunk[:min(room, len(chunk))]...)
		}
		switch n := len(chunk); {
		case n >= 2:
			last2 = [2]byte{chunk[n-2], chunk[n-1]}
		case n == 1:
			last2 = [2]byte{last2[1], chunk[0]}
		}
		if rerr == bufio.ErrBufferFull {
			continue
		}
		if rerr != nil && rerr != io.EOF {
			return nil, total, 0, rerr
		}
		if total > 0 && last2[1] == '\n' {
			eol = 1
			if total >= 2 && last2[0] == '\r' {
				eol = 2
			}
		}
		line = p.buf
		if int64(len(line)) == total {
			line = line[:len(line)-eol]
		}
		return line, total, eol, rerr
	}
}

// line processes one line of the message.
func (p *layoutParser) line(line []byte, total int64, eol int) {
	start := p.off
	p.off += total
	nlBefore := p.nl
	if eol > 0 {
		p.nl++
	}
	defer func() { p.prevEOL = eol }()

	if i, closeDelim, ok := p.matchBoundary(line, total); ok {
		// RFC 2046 §5.1.1: the line end before a delimiter belongs to the
		// delimiter, not to the part that ends there.
		endAt, nlEnd := start, nlBefore
		if p.prevEOL > 0 {
			endAt -= int64(p.prevEOL)
			nlEnd--
		}
		for j := len(p.stack) - 1; j > i; j-- {
			p.finish(p.stack[j], endAt, nlEnd)
		}
		p.stack = p.stack[:i+1]
		f := p.stack[i]
		if closeDelim {
			f.closed = true
			return
		}
		if p.count >= maxMIMEEntities {
			return
		}
		p.count++
		child := &entity{HeaderStart: p.off}
		f.e.Parts = append(f.e.Parts, child)
		p.stack = append(p.stack, &frame{e: child, digest: f.e.Subtype == "digest", depth: f.depth + 1})
		return
	}

	f := p.stack[len(p.stack)-1]
	if f.state != inHeader {
		return
	}
	if len(line) == 0 && eol > 0 && int64(eol) == total {
		p.endHeader(f, p.off, p.nl)
		return
	}
	p.keepHeaderLine(f, line)
}

// keepHeaderLine adds a header line to the text kept for parsing, within
// the per-entity and per-message budgets.
func (p *layoutParser) keepHeaderLine(f *frame, line []byte) {
	cont := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
	keep := len(f.hdr) < maxHeaderKeep
	over := p.kept >= maxHeadersKept
	if over {
		if cont {
			keep = f.lastKept && f.overKept < maxContentKeep
		} else {
			keep = f.overKept < maxContentKeep && len(line) >= 8 &&
				strings.EqualFold(string(line[:8]), "content-")
		}
	}
	f.lastKept = keep
	if keep {
		f.hdr = append(append(f.hdr, line...), '\r', '\n')
		p.kept += len(line) + 2
		if over {
			f.overKept += len(line) + 2
		}
	}
}

// matchBoundary finds the innermost multipart whose delimiter this line
// is. RFC 2046 §5.1.1: "--" boundary, or "--" boundary "--" for the
// last, optionally followed by linear white space.
func (p *layoutParser) matchBoundary(line []byte, total int64) (idx int, closeDelim, ok bool) {
	if total > maxBoundaryLine || len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return 0, false, false
	}
	l := bytes.TrimRight(line[2:], " \t")
	for i := len(p.stack) - 1; i >= 0; i-- {
		f := p.stack[i]
		if f.state != inBody || f.boundary == "" || f.closed {
			continue
		}
		b := f.boundary
		if len(l) == len(b) && string(l) == b {
			return i, false, true
		}
		if len(l) == len(b)+2 && string(l[:len(b)]) == b && l[len(b)] == '-' && l[len(b)+1] == '-' {
			return i, true, true
		}
	}
	return 0, false, false
}

// endHeader is called at the blank line ending f's header.
func (p *layoutParser) endHeader(f *frame, bodyStart, nl int64) {
	e := f.e
	e.BodyStart = bodyStart
	f.nlBody = nl
	f.state = inBody
	p.parseHeader(f)
	if f.depth >= maxMIMEDepth {
		return
	}
	switch {
	case e.isMultipart():
		f.boundary = e.Params["boundary"]
	case e.isMessage() && p.count < maxMIMEEntities:
		p.count++
		m := &entity{HeaderStart: bodyStart}
		e.Message = m
		p.stack = append(p.stack, &frame{e: m, depth: f.depth + 1})
	}
}

// finish closes f at end (line ends before it: nl). An entity cut short
// by a delimiter right after its header, or right after the delimiter
// that began it, is clamped to end: the line end before a delimiter
// belongs to the delimiter (RFC 2046 §5.1.1), never to both.
func (p *layoutParser) finish(f *frame, end, nl int64) {
	e := f.e
	if f.state == inHeader {
		// No blank line: all header, no body.
		e.BodyStart = end
		f.nlBody = nl
		p.parseHeader(f)
	}
	e.HeaderStart = min(e.HeaderStart, end)
	e.BodyStart = min(max(e.BodyStart, e.HeaderStart), end)
	e.End = end
	if e.End > e.BodyStart && nl > f.nlBody {
		e.BodyLines = nl - f.nlBody
	}
}

// parseHeader fills e's header and content fields from the kept text.
func (p *layoutParser) parseHeader(f *frame) {
	f.e.setHeader(f.hdr, f.digest)
	f.hdr = nil
}

// setHeader sets e's header from raw header text (CRLF line ends, no
// blank line) and its content fields from that; inDigest: e is a part of
// a multipart/digest.
func (e *entity) setHeader(raw []byte, inDigest bool) {
	e.Header = parseHeaderFields(raw)
	e.headerBytes = len(raw)
	typ, params := contentType(e.Header, inDigest)
	e.Type, e.Subtype, _ = strings.Cut(typ, "/")
	e.Params = params
	e.Encoding = strings.ToLower(strings.TrimSpace(e.Header.Get("Content-Transfer-Encoding")))
	e.ID = e.Header.Get("Content-Id")
	e.Description = e.Header.Get("Content-Description")
	e.Location = e.Header.Get("Content-Location")
	e.Disposition = disposition(e.Header)
	e.Language = language(e.Header)
}

// contentType gives an entity's media type and parameters with the
// defaults of RFC 2045 §5.2 (text/plain; charset=us-ascii) and RFC 2046
// §5.1.5 (message/rfc822 inside multipart/digest).
func contentType(h textproto.Header, inDigest bool) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) != "" {
		t, params, err := mime.ParseMediaType(v)
		if err == nil || errors.Is(err, mime.ErrInvalidMediaParameter) {
			if strings.Contains(t, "/") {
				return t, params
			}
		}
	}
	if inDigest {
		return "message/rfc822", nil
	}
	return "text/plain", map[string]string{"charset": "us-ascii"}
}

// headerField is one field of a raw header, with its continuation lines.
type headerField struct {
	name string // as written, without the colon
	raw  []byte // the whole field with its line ends
}

// splitHeader cuts raw header text (without the blank line) into fields.
// A line that is neither a field nor a continuation is kept with the
// field before it, so no octet is lost.
func splitHeader(raw []byte) []headerField {
	var out []headerField
	for len(raw) > 0 {
		n := bytes.IndexByte(raw, '\n') + 1
		if n == 0 {
			n = len(raw)
		}
		line := raw[:n]
		raw = raw[n:]
		if len(out) > 0 && (line[0] == ' ' || line[0] == '\t' || bytes.IndexByte(line, ':') < 0) {
			last := &out[len(out)-1]
			last.raw = append(last.raw[:len(last.raw):len(last.raw)], line...)
			continue
		}
		name := line
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			name = line[:i]
		}
		out = append(out, headerField{
			name: string(bytes.TrimSpace(name)),
			raw:  line,
		})
	}
	return out
}

// parseHeaderFields makes a textproto.Header of raw header text.
func parseHeaderFields(raw []byte) textproto.Header {
	var h textproto.Header
	for _, f := range splitHeader(raw) {
		if f.name == "" || bytes.IndexByte(f.raw, ':') < 0 {
			continue
		}
		h.AddRaw(f.raw)
	}
	return h
}
