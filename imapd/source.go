package imapd

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mailsuite/mailsuite/mailbox"
)

// msgSource reads one message's content for one FETCH or SEARCH: it opens
// the file on first use and reopens it only to go backwards, so the
// sections of a FETCH cost one pass when asked in order.
type msgSource struct {
	folder mailbox.Folder
	uid    uint32
	rc     io.ReadCloser
	pos    int64
	size   int64 // known after the first open
	opened bool
	bufs   *sync.Pool // of *[]byte for copySpan; nil: one per copy
}

// copyBufferSize is the buffer copySpan streams through.
const copyBufferSize = 32 << 10

// errShortContent is a message file that ended before the size the store
// gave for it.
var errShortContent = errors.New("imapd: message content shorter than its size")

func (s *msgSource) open() error {
	if s.rc != nil {
		s.rc.Close()
		s.rc = nil
	}
	rc, size, err := s.folder.Open(s.uid)
	if err != nil {
		return err
	}
	if s.opened && size != s.size {
		rc.Close()
		return fmt.Errorf("imapd: message %d changed size from %d to %d", s.uid, s.size, size)
	}
	s.rc, s.pos, s.size, s.opened = rc, 0, size, true
	return nil
}

// Size is the content size in octets (RFC822.SIZE, BODY[]).
func (s *msgSource) Size() (int64, error) {
	if !s.opened {
		if err := s.open(); err != nil {
			return 0, err
		}
	}
	return s.size, nil
}

// whole returns a reader of the whole message from its start, and its size.
func (s *msgSource) whole() (io.Reader, int64, error) {
	size, err := s.Size()
	if err != nil {
		return nil, 0, err
	}
	r, err := s.at(0, size)
	return r, size, err
}

// at returns a reader at offset start, reading at most n octets.
func (s *msgSource) at(start, n int64) (io.Reader, error) {
	if s.rc == nil || start < s.pos {
		if err := s.open(); err != nil {
			return nil, err
		}
	}
	if skip := start - s.pos; skip > 0 {
		m, err := io.CopyN(io.Discard, s.rc, skip)
		s.pos += m
		if err != nil {
			return nil, shortErr(err)
		}
	}
	return &countingReader{r: io.LimitReader(s.rc, n), pos: &s.pos}, nil
}

// readSpan reads a small range into memory (headers), at most limit octets.
func (s *msgSource) readSpan(sp span, limit int64) ([]byte, error) {
	n := min(sp.len(), limit)
	r, err := s.at(sp.start, n)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, shortErr(err)
	}
	return buf, nil
}

// copySpan writes exactly sp.len() octets to w.
func (s *msgSource) copySpan(w io.Writer, sp span) error {
	if sp.len() <= 0 {
		return nil
	}
	r, err := s.at(sp.start, sp.len())
	if err != nil {
		return err
	}
	var buf *[]byte
	if s.bufs != nil {
		buf, _ = s.bufs.Get().(*[]byte)
	}
	if buf == nil {
		b := make([]byte, copyBufferSize)
		buf = &b
	}
	n, err := io.CopyBuffer(w, r, *buf)
	if s.bufs != nil {
		s.bufs.Put(buf)
	}
	if err != nil {
		return err
	}
	if n != sp.len() {
		return errShortContent
	}
	return nil
}

func (s *msgSource) Close() {
	if s.rc != nil {
		s.rc.Close()
		s.rc = nil
	}
}

func shortErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errShortContent
	}
	return err
}

type countingReader struct {
	r   io.Reader
	pos *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.pos += int64(n)
	return n, err
}
