package imapd

import (
	"encoding/base64"
	"errors"
	"io"
	"mime/quotedprintable"

	"github.com/emersion/go-imap/v2"
)

// RFC 3516 §4.3 (BINARY): a part whose Content-Transfer-Encoding we do
// not know cannot be decoded.
var errUnknownCTE = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeUnknownCTE,
	Text: "Unknown Content-Transfer-Encoding",
}

// decodeCTE gives r with its Content-Transfer-Encoding (RFC 2045 §6)
// undone. Malformed encoded input ends the content where it turns bad,
// the same way on every read, so that BINARY.SIZE and BINARY agree;
// errors of r itself are returned.
func decodeCTE(enc string, r io.Reader) (io.Reader, error) {
	src := &errKeeper{r: r}
	switch enc {
	case "", "7bit", "8bit", "binary":
		return r, nil
	case "base64":
		// Lines may carry spaces or tabs in the wild; the decoder skips
		// line ends only, so turn those into line ends.
		return &stopAtBad{r: base64.NewDecoder(base64.StdEncoding, &blankToLF{r: src}), src: src}, nil
	case "quoted-printable":
		return &stopAtBad{r: quotedprintable.NewReader(src), src: src}, nil
	}
	return nil, errUnknownCTE
}

// errKeeper remembers the error of the underlying reader.
type errKeeper struct {
	r   io.Reader
	err error
}

func (e *errKeeper) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// stopAtBad turns a decoding error into the end of the content.
type stopAtBad struct {
	r   io.Reader
	src *errKeeper
	end error
}

func (s *stopAtBad) Read(p []byte) (int, error) {
	if s.end != nil {
		return 0, s.end
	}
	n, err := s.r.Read(p)
	if err != nil {
		if s.src.err != nil && !errors.Is(s.src.err, io.EOF) {
			s.end = s.src.err
		} else {
			s.end = io.EOF
		}
		if n > 0 {
			return n, nil
		}
		return 0, s.end
	}
	return n, nil
}

type blankToLF struct{ r io.Reader }

func (b *blankToLF) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for i := range p[:n] {
		if p[i] == ' ' || p[i] == '\t' {
			p[i] = '\n'
		}
	}
	return n, err
}

// binaryPlan says how to make the content of a BINARY[...] section: the
// raw header span (only for BINARY[], the whole message) followed by the
// body span decoded as enc.
type binaryPlan struct {
	header span
	body   span
	enc    string
	none   bool // the part does not exist: empty
}

// planBinary resolves a BINARY section (RFC 3516 §4.2, RFC 9051 §6.4.5).
// Multipart and message parts are not decoded (RFC 2045 §6.4: their
// encoding can only be 7bit, 8bit or binary).
func planBinary(root *entity, size int64, part []int) binaryPlan {
	if len(part) == 0 {
		p := binaryPlan{header: span{0, root.BodyStart}, body: span{root.BodyStart, size}}
		if !root.isMultipart() && !root.isMessage() {
			p.enc = root.Encoding
		}
		return p
	}
	e := locate(root, part)
	if e == nil {
		return binaryPlan{none: true}
	}
	p := binaryPlan{body: span{e.BodyStart, e.End}}
	if !e.isMultipart() && !e.isMessage() {
		p.enc = e.Encoding
	}
	return p
}

// binaryReader gives the whole (pre-partial) content of a plan.
func (s *msgSource) binaryReader(p binaryPlan) (io.Reader, error) {
	if p.none {
		return eofReader{}, nil
	}
	if _, err := decodeCTE(p.enc, nil); err != nil {
		return nil, err // unknown encoding, before touching the file
	}
	body := &lazyReader{open: func() (io.Reader, error) {
		r, err := s.at(p.body.start, p.body.len())
		if err != nil {
			return nil, err
		}
		return decodeCTE(p.enc, r)
	}}
	if p.header.len() <= 0 {
		return body, nil
	}
	hdr, err := s.at(p.header.start, p.header.len())
	if err != nil {
		return nil, err
	}
	// The header is read to its end before the body reader starts, so the
	// source never goes backwards.
	return io.MultiReader(hdr, body), nil
}

// lazyReader opens its reader on first use.
type lazyReader struct {
	open func() (io.Reader, error)
	r    io.Reader
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.r == nil {
		r, err := l.open()
		if err != nil {
			return 0, err
		}
		l.r = r
	}
	return l.r.Read(p)
}

// binarySize counts the octets of a plan's content (BINARY.SIZE, and the
// literal length of BINARY before it is sent).
func (s *msgSource) binarySize(p binaryPlan) (int64, error) {
	r, err := s.binaryReader(p)
	if err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, r)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
