package imapd

import (
	"io"
	"net"
	"strconv"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

// FETCH of what the index holds, written by us.
//
// "UID FETCH 1:* (UID FLAGS)" is what every client sends to resync a
// folder, and on 100,000 messages go-imap's FetchWriter spent most of
// the server's time on it (perf of mailbench select): per message it
// makes two encoders, locks three mutexes, reads the clock and sets the
// write deadline twice, and flushes its writer. For a FETCH that asks
// only for UID, FLAGS, INTERNALDATE and RFC822.SIZE, indexLines formats
// the same responses (RFC 9051 §7.5.2) into one buffer and writes them
// to the library's own connection in large pieces.
//
// That is safe because the library flushes its writer at the end of
// every response (imapwire's CRLF), so between two responses nothing of
// its own is held back, and it writes nothing else while a command's
// handler runs; each write here holds whole lines only, so a BYE the
// server sends from another goroutine at shutdown falls between lines,
// as it does between the library's responses. After STARTTLS the
// library's connection is its *tls.Conn, and the lines go through it.

// indexOnly reports whether every item a FETCH asks for is one
// indexLines writes.
func indexOnly(o *imap.FetchOptions) bool {
	return o.BodyStructure == nil && !o.Envelope && len(o.BodySection) == 0 &&
		len(o.BinarySection) == 0 && len(o.BinarySectionSize) == 0 &&
		!o.ModSeq && o.ChangedSince == 0
}

// indexLines gathers FETCH responses and writes them to nc.
type indexLines struct {
	nc    net.Conn
	trace io.Writer // the protocol trace, when on (the library feeds it its own writes)
	buf   []byte
}

// linesGather is how much indexLines gathers before it writes.
const linesGather = 32 << 10

// linesWriteTimeout is the library's own for a response.
const linesWriteTimeout = 30 * time.Second

// add appends the FETCH response of message seq, m; false (and nothing
// appended) when a flag is not one the library would write, so that the
// library's path answers that message as it would have.
func (l *indexLines) add(seq uint32, m mailbox.MessageInfo, o *imap.FetchOptions) bool {
	for _, f := range m.Flags {
		if !wireFlagOK(f) {
			return false
		}
	}
	b := append(l.buf, "* "...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, " FETCH ("...)
	sep := false
	item := func(name string) {
		if sep {
			b = append(b, ' ')
		}
		sep = true
		b = append(b, name...)
	}
	if o.UID {
		item("UID ")
		b = strconv.AppendUint(b, uint64(m.UID), 10)
	}
	if o.Flags {
		item("FLAGS (")
		for i, f := range m.Flags {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, f...)
		}
		b = append(b, ')')
	}
	if o.InternalDate {
		item(`INTERNALDATE "`)
		b = m.InternalDate.AppendFormat(b, "_2-Jan-2006 15:04:05 -0700")
		b = append(b, '"')
	}
	if o.RFC822Size {
		item("RFC822.SIZE ")
		b = strconv.AppendInt(b, m.Size, 10)
	}
	l.buf = append(b, ")\r\n"...)
	return true
}

// flush writes what is gathered once it is more than linesGather, or
// whenever all is set (before the library writes again). l may be nil.
func (l *indexLines) flush(all bool) error {
	if l == nil || len(l.buf) == 0 || !all && len(l.buf) < linesGather {
		return nil
	}
	if l.trace != nil {
		l.trace.Write(l.buf)
	}
	l.nc.SetWriteDeadline(time.Now().Add(linesWriteTimeout))
	_, err := l.nc.Write(l.buf)
	l.nc.SetWriteDeadline(time.Time{})
	l.buf = l.buf[:0]
	return err
}

// wireFlagOK is the test go-imap's encoder makes of a flag before it
// writes it (imapwire: an atom, with one leading backslash allowed).
func wireFlagOK(s string) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\\':
			if i != 0 {
				return false
			}
		case '(', ')', '{', ' ', '%', '*', '"', ']':
			return false
		default:
			if unicode.IsControl(rune(ch)) {
				return false
			}
		}
	}
	return len(s) > 0
}
