package smtpd

import (
	"bytes"
	"io"
)

// bareCRFixer turns every CR that is not followed by LF into CRLF.
//
// RFC 5321 §2.3.8: CR and LF occur only together, as CRLF. A bare CR in a
// submitted message would go out as it came, and a next hop that takes a
// bare CR for a line end would read "\r.\r" as the end of the message and
// what follows as new commands (the SMTP smuggling class), and a reader
// that does the same would see a header field hidden behind it (a second
// Return-Path under ours). Submission and inbound delivery therefore make
// each a line end before the message is stored, queued or DKIM-signed, so
// that every copy and the signature agree. (Bare LF needs nothing here:
// the store and the outbound client both end lines in CRLF.)
type bareCRFixer struct {
	r       io.Reader
	pending bool   // the last octet passed on was a CR whose next octet is unknown
	out     []byte // fixed octets not yet handed out (in spare)
	spare   []byte // where a chunk that needed fixing is rebuilt
	err     error
	fixed   int // CRs turned into CRLF
}

func newBareCRFixer(r io.Reader) *bareCRFixer {
	return &bareCRFixer{r: r}
}

// Read reads into p and passes the chunk on as it is when it holds no bare
// CR, the common case: a message goes through without a copy. A chunk
// that needs a line end added is rebuilt in spare and handed out from
// there.
func (f *bareCRFixer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(f.out) == 0 {
		if f.err != nil {
			if f.pending {
				// A CR at the very end: a line end too.
				f.pending = false
				f.fixed++
				p[0] = '\n'
				return 1, nil
			}
			return 0, f.err
		}
		n, err := f.r.Read(p)
		f.err = err
		if n == 0 {
			continue
		}
		chunk := p[:n]
		if !f.needsFix(chunk) {
			f.pending = chunk[n-1] == '\r'
			return n, nil
		}
		f.out = f.fix(chunk)
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// needsFix reports whether chunk, read after what was passed on, holds a
// CR (or starts after one) that is not followed by LF. A CR at its very
// end is left for the next chunk to decide.
func (f *bareCRFixer) needsFix(chunk []byte) bool {
	if f.pending && chunk[0] != '\n' {
		return true
	}
	for rest := chunk; ; {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 || i == len(rest)-1 {
			return false
		}
		if rest[i+1] != '\n' {
			return true
		}
		rest = rest[i+2:]
	}
}

// fix returns chunk with an LF after each bare CR, in spare.
func (f *bareCRFixer) fix(chunk []byte) []byte {
	out := f.spare[:0]
	if f.pending && chunk[0] != '\n' {
		out = append(out, '\n')
		f.fixed++
	}
	for rest := chunk; ; {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 || i == len(rest)-1 {
			out = append(out, rest...)
			break
		}
		out = append(out, rest[:i+1]...)
		rest = rest[i+1:]
		if rest[0] != '\n' {
			out = append(out, '\n')
			f.fixed++
		}
	}
	f.pending = chunk[len(chunk)-1] == '\r'
	f.spare = out
	return out
}
