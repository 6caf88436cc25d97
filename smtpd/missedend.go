package smtpd

import (
	"bytes"
	"fmt"
	"time"

	"github.com/emersion/go-smtp"
)

// The end of a DATA message that go-smtp does not see.
//
// RFC 5321 §4.1.1.4: the message ends at the first <CRLF>.<CRLF>. go-smtp's
// DATA reader (v0.26.0) tracks line starts with a small state machine that
// leaves the "after CR" state on a second CR: after "\r\r\n" it does not
// know that a line begins, so a last line ending in CR CR LF hides the
// ".\r\n" that follows. The client, having sent the end, waits for the
// reply; go-smtp waits for more data; the sender times out and tries again
// until it gives up. Lines ending in CR CR LF come from broken line-end
// conversions, and other servers accept them.
//
// go-smtp hands the message on as it reads it, with the dots of the line
// starts it did see taken off. A line start it missed keeps its dot, so
// "\r\n.\r\n" after an even run of CRs begun mid-line in what it hands on
// is exactly such an end: an odd run (one CR, or three) leaves its state
// machine at a line start, where it would have ended the message or taken
// the dot off.
//
// endScanner finds that end in what go-smtp hands on, and takes off the
// doubled dot of such a line start, which go-smtp leaves; dataReader ends
// the message there, and the session answers it itself (answerMissedEnd):
// go-smtp would read on for an end that has already passed, so the reply
// is written past it and the connection closed with 421, and whatever the
// client sent after the end is never read as commands.
//
// go-smtp's reader returns only when the buffer it was given is full, so
// an end that arrives with nothing after it is seen when the read times
// out: dataReader gives DATA reads a short deadline (probeInterval) and
// reads again, until the real time-out, while no octet comes.

// probeInterval is how long a DATA read waits before the octets go-smtp
// has read so far are looked at for an end it did not see.
const probeInterval = time.Second

// endScanner looks for "\r\n.\r\n" where go-smtp's reader was surely not
// at a line start, and takes the doubled dot off a line start go-smtp
// missed (RFC 5321 §4.5.2), as it would have.
//
// It follows go-smtp's line state in what it hands on. An octet other than
// CR and LF leaves go-smtp mid-line. A run of CRs begun mid-line and ended
// by LF leaves it at a line start if the run is odd, and mid-line if it is
// even: a line start it missed. A run begun at a line start is not
// counted for an end: there go-smtp takes off ".\r" before a CR that a
// client did not double, so the run it hands on may have lost a CR. So no
// end is ever found where there is none; an end after such a run is left
// to go-smtp, as before. The doubled dot after it goes all the same: a
// client that doubles its dots sent the run as it was handed on.
type endScanner struct {
	pos   uint8 // where go-smtp's reader is
	crs   int   // CRs in the current run
	runAt uint8 // pos where the current run began
	cand  int   // 1: at a missed line start; 2: and "."; 3: and ".\r"
	sure  bool  // the line start of cand is surely one go-smtp missed
}

const (
	posLine  = iota // at a line start (the start of the message is one)
	posMid          // mid-line
	posMaybe        // at one or the other
)

// track follows go-smtp's line state over one octet it handed on, and
// reports an LF that ends a line whose end go-smtp missed: missed if the
// client doubled its dots as RFC 5321 §4.5.2 asks (then a run of CRs
// handed on is the run sent), sure if it did or not.
func (s *endScanner) track(c byte) (missed, sure bool) {
	switch c {
	case '\r':
		if s.crs == 0 {
			s.runAt = s.pos
		}
		s.crs++
		s.pos = posMid
		return false, false
	case '\n':
		missed = s.crs >= 2 && s.crs%2 == 0
		switch {
		case s.crs == 0:
			s.pos = posMid
		case s.runAt != posMid:
			s.pos = posMaybe
		case missed:
			s.pos = posMid
			sure = true
		default:
			s.pos = posLine
		}
	default:
		s.pos = posMid
	}
	s.crs = 0
	return missed, sure
}

// scan reads b, which follows what was scanned before, and rewrites it in
// place. If the end is in b, the message goes on with b[:n] and ends there
// (found). Otherwise it goes on with b[:n], and the last kept octets of b
// ("." or ".\r" at a line start go-smtp missed) are undecided: the caller
// passes them to scan again, at the start of the next b.
func (s *endScanner) scan(b []byte) (n, kept int, found bool) {
	for i := 0; i < len(b); i++ {
		if s.cand == 0 && s.crs == 0 {
			// Nothing pending: what comes before the next two CRs
			// passes as it is. It holds no even run of CRs, and
			// only its end after its last octet of text moves the
			// line state beyond mid-line.
			j := bytes.Index(b[i:], crcr)
			if j < 0 {
				j = len(b) - i
			}
			if j > 0 {
				if n != i {
					copy(b[n:], b[i:i+j])
				}
				n += j
				i += j
				r := b[n-j : n] // where it is now
				if q := lastText(r); q >= 0 {
					s.pos = posMid
					r = r[q+1:]
				}
				for _, c := range r {
					s.track(c)
				}
				if i == len(b) {
					break
				}
			}
		}
		c := b[i]
		switch {
		case s.cand == 1 && c == '.':
			s.cand = 2
			continue
		case s.cand == 2 && c == '\r':
			s.cand = 3
			continue
		case s.cand == 3 && c == '\n' && s.sure:
			return n, 0, true
		case s.cand == 3 && c == '\n':
			// Perhaps not a line start: left to go-smtp, as before,
			// and the line is text.
			b[n], b[n+1] = '.', '\r'
			n += 2
			s.track('.')
			s.track('\r')
		case s.cand == 3:
			// ".\r" and more on the line: the dot goes.
			b[n] = '\r'
			n++
			s.track('.')
			s.track('\r')
		case s.cand == 2:
			s.track('.') // "." and more on the line: the dot goes
		}
		s.cand = 0
		b[n] = c
		n++
		if missed, sure := s.track(c); missed {
			s.cand, s.sure = 1, sure
		}
	}
	if s.cand >= 2 {
		kept = s.cand - 1
		s.cand = 1
	}
	return n, kept, false
}

// lastText returns the index of the last octet of b that is not CR or LF,
// or -1.
func lastText(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != '\r' && b[i] != '\n' {
			return i
		}
	}
	return -1
}

var crcr = []byte("\r\r")

// answerMissedEnd writes the reply to a message whose end go-smtp did not
// see (rep, made by reply()), and a 421 (RFC 5321 §3.8), and closes the
// connection: go-smtp's own reply would come only after an end that never
// comes.
func (s *session) answerMissedEnd(rep error) {
	r, ok := rep.(*smtp.SMTPError)
	if !ok {
		r = reply(rep)
	}
	nc := s.sc.Conn()
	nc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	fmt.Fprintf(nc, "%d %d.%d.%d %s\r\n", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
	s.logger().Info("message ended after a line ending in CR CR LF; answered and closing the connection", "code", r.Code)
	s.c.sayAndClose(nc, &smtp.SMTPError{
		Code:         421,
		EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message:      s.opts.Hostname + " closing the connection after a message whose last line ended in CR CR LF; send the next message on a new connection",
	})
}
