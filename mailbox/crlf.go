package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// Files on disk use LF line ends, as mutt and Dovecot write them; the API
// speaks CRLF (RFC 5322 §2.3, RFC 9051 §2.3.4: sizes count CRLF octets).
//
// The two conversions below agree on one rule, so that every size holds: on
// disk, an LF that does not follow a CR stands for CRLF. Writing turns each
// CRLF into LF and keeps any other CR; reading turns an LF not preceded by
// CR into CRLF and leaves an existing CRLF alone.

// readErr keeps the caller's reader error
// apart from our write errors so it can be returned unchanged.
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

// copyBufs are copyToLF's buffers, kept for the next message: made anew
// for each one, they were two thirds of what a delivery allocated.
type copyBufs struct {
	r []byte
	w *bufio.Writer
}

var copyBufsPool = sync.Pool{New: func() any {
	return &copyBufs{r: make([]byte, 32<<10), w: bufio.NewWriterSize(nil, 64<<10)}
}}

// copyToLF streams r to w converting CRLF to LF. It returns the octets
// written (disk size) and the size the content has when read back with CRLF
// line ends. max > 0 limits that CRLF size (ErrTooBig). An error of r is
// returned wrapped in *readErr so the caller can tell it from a write error.
func copyToLF(w io.Writer, r io.Reader, max int64) (disk, crlf int64, err error) {
	cb := copyBufsPool.Get().(*copyBufs)
	bw := cb.w
	bw.Reset(w)
	defer func() {
		bw.Reset(nil) // drops what a failed copy left unwritten
		copyBufsPool.Put(cb)
	}()
	var (
		buf    = cb.r
		cr     bool // input ended on a CR not yet written
		lastCR bool // last byte written to disk was CR
	)
	emit := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		n := int64(len(b))
		// Count LFs that will be read back as CRLF.
		rest := b
		prevCR := lastCR
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			if !(i == 0 && prevCR) && !(i > 0 && rest[i-1] == '\r') {
				n++
			}
			prevCR = false
			rest = rest[i+1:]
		}
		lastCR = b[len(b)-1] == '\r'
		disk += int64(len(b))
		crlf += n
		if max > 0 && crlf > max {
			return ErrTooBig
		}
		_, err := bw.Write(b)
		return err
	}
	lf := []byte{'\n'}
	crb := []byte{'\r'}
	for {
		n, rerr := r.Read(buf)
		b := buf[:n]
		for len(b) > 0 {
			if cr {
				cr = false
				if b[0] == '\n' {
					if err := emit(lf); err != nil {
						return disk, crlf, err
					}
					b = b[1:]
					continue
				}
				if err := emit(crb); err != nil {
					return disk, crlf, err
				}
			}
			i := bytes.IndexByte(b, '\r')
			if i < 0 {
				if err := emit(b); err != nil {
					return disk, crlf, err
				}
				break
			}
			if err := emit(b[:i]); err != nil {
				return disk, crlf, err
			}
			cr = true
			b = b[i+1:]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return disk, crlf, &readErr{rerr}
		}
	}
	if cr {
		if err := emit(crb); err != nil {
			return disk, crlf, err
		}
	}
	return disk, crlf, bw.Flush()
}

// crlfSize reads LF content once and returns its size on disk and the size
// it has when read back through crlfReader. It is used for files other
// programs dropped in without a W= size in their name.
func crlfSize(r io.Reader) (disk, crlf int64, err error) {
	buf := make([]byte, 32<<10)
	prevCR := false
	for {
		n, rerr := r.Read(buf)
		for _, b := range buf[:n] {
			if b == '\n' && !prevCR {
				crlf++
			}
			prevCR = b == '\r'
		}
		disk += int64(n)
		crlf += int64(n)
		if rerr == io.EOF {
			return disk, crlf, nil
		}
		if rerr != nil {
			return disk, crlf, rerr
		}
	}
}

// crlfReader gives LF content with CRLF line ends.
//
// It reads r in chunks as large as its buffer, whatever the size of the
// caller's p, and keeps what does not fit for the next call. (It used to
// read len(p)/2 octets so that the output would fit, which under Open's
// LimitReader halved the read with each call: a dozen reads of the file
// for a 4 KiB message.)
type crlfReader struct {
	r          io.Reader
	buf        []byte
	start, end int   // buf[start:end]: read from r, not yet returned
	err        error // r's error, returned once buf is drained
	prevCR     bool  // last byte taken from buf was CR
	lf         bool  // an LF is owed after a CR already returned
}

// crlfMaxBuffer bounds the buffer of a crlfReader.
const crlfMaxBuffer = 16 << 10

// newCRLFReader reads r, which holds about size octets, through a buffer
// of that size up to crlfMaxBuffer: a small message is read in one go
// into a buffer no larger than itself.
func newCRLFReader(r io.Reader, size int64) *crlfReader {
	return &crlfReader{r: r, buf: make([]byte, min(max(size, 1), crlfMaxBuffer))}
}

func (c *crlfReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	if c.lf {
		p[0] = '\n'
		c.lf = false
		n = 1
	}
	if c.start == c.end && c.err == nil && n < len(p) {
		m, err := c.r.Read(c.buf)
		c.start, c.end, c.err = 0, m, err
	}
	for n < len(p) && c.start < c.end {
		b := c.buf[c.start:c.end]
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		k := copy(p[n:], b[:i])
		n += k
		c.start += k
		if k > 0 {
			c.prevCR = b[k-1] == '\r'
		}
		if k < i || n == len(p) || i == len(b) {
			continue // p is full, or buf is drained
		}
		// b[i] is an LF: one not preceded by CR stands for CRLF.
		c.start++
		if !c.prevCR {
			p[n] = '\r'
			n++
			if n == len(p) {
				c.lf, c.prevCR = true, false
				break
			}
		}
		p[n] = '\n'
		n++
		c.prevCR = false
	}
	if c.start < c.end || c.err == nil {
		return n, nil
	}
	if n > 0 && errors.Is(c.err, io.EOF) {
		return n, nil // report EOF on the next call
	}
	return n, c.err
}
