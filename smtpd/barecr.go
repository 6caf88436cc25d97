package smtpd

import "io"

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
	pending bool   // the last octet read was a CR whose next octet is unknown
	buf     []byte // octets read, not yet handed out
	out     []byte // octets ready to hand out
	err     error
	fixed   int // CRs turned into CRLF
}

func newBareCRFixer(r io.Reader) *bareCRFixer {
	return &bareCRFixer{r: r, buf: make([]byte, 4096)}
}

func (f *bareCRFixer) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			if f.pending {
				// A CR at the very end: a line end too.
				f.pending = false
				f.fixed++
				f.out = append(f.out[:0], '\n')
				break
			}
			return 0, f.err
		}
		n, err := f.r.Read(f.buf)
		f.err = err
		out := f.out[:0]
		for _, b := range f.buf[:n] {
			if f.pending && b != '\n' {
				out = append(out, '\n')
				f.fixed++
			}
			out = append(out, b)
			f.pending = b == '\r'
		}
		f.out = out
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}
