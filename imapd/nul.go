package imapd

import (
	"bytes"
	"errors"
	"io"
)

// NUL octets. RFC 9051 §4.3: "8-bit textual and binary mail is supported
// through the use of a [MIME-IMB] content transfer encoding" and a literal
// that is not literal8 (RFC 3516) cannot carry NUL (CHAR8 excludes %x00).
//
// Going in, an APPEND whose message holds a NUL is refused (append.go).
//
// Going out, a message may hold NUL because SMTP delivered it (8BITMIME
// and BINARYMIME content is stored as received). BODY[...], RFC822,
// RFC822.HEADER and RFC822.TEXT are sent in plain literals, so, as
// Dovecot does, each NUL there is sent as the octet 0x80: the literal
// keeps its length, so RFC822.SIZE and partial offsets stay right, and no
// client sees a NUL where the grammar forbids one. BINARY[...] is sent as
// literal8 (RFC 3516 §4.2), which may carry NUL, and is left as stored.

// nulReplacement is what a NUL becomes in a plain literal.
const nulReplacement = 0x80

// errNULOctet is returned by nulGuard's Read at the first NUL.
var errNULOctet = errors.New("imapd: NUL octet in message")

// nulGuard fails the read of an APPEND literal at its first NUL, so the
// store removes its partial file.
type nulGuard struct {
	r io.Reader
}

func (g *nulGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if bytes.IndexByte(p[:n], 0) >= 0 {
		return 0, errNULOctet
	}
	return n, err
}

// nulFilter writes to w with every NUL turned into nulReplacement. It
// never changes the caller's buffer (io.Writer's contract).
type nulFilter struct {
	w   io.Writer
	buf []byte
}

func (f *nulFilter) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, 0) < 0 {
		return f.w.Write(p)
	}
	f.buf = append(f.buf[:0], p...)
	for i, b := range f.buf {
		if b == 0 {
			f.buf[i] = nulReplacement
		}
	}
	return f.w.Write(f.buf)
}
