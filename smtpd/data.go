package smtpd

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Data receives the message (RFC 5321 §4.1.1.4; BDAT, RFC 3030, arrives
// here too) and streams it into the store behind our trace header fields.
// Nothing is buffered whole: the store reads from the connection. The reply
// is 250 only once Deliver has returned nil, which means the message is
// durable in every recipient's INBOX.
func (s *session) Data(r io.Reader) error {
	s.mu.Lock()
	tx, user, log := s.tx, s.user, s.log
	s.mu.Unlock()
	if len(tx.targets) == 0 && len(tx.remote) == 0 {
		return reply(errNoRecipients)
	}
	c := s.c
	// The 354 (gathered in endConn) leaves before the store is touched:
	// a first delivery makes the user's tree, and a store lock may be held.
	c.in.flush()
	body := newDataReader(r, c)
	defer func() {
		body.discardRest()
		c.dataEnded(body)
	}()
	rep := s.receive(tx, user, log, body)
	body.discardRest() // a refused message's end may be one go-smtp misses
	if body.missedEnd {
		s.answerMissedEnd(rep) // missedend.go
	}
	return rep
}

// receive takes the message from body, stores or queues it and returns the
// reply.
func (s *session) receive(tx transaction, user string, log *slog.Logger, body *dataReader) error {
	c := s.c

	id := newQueueID()
	t := trace{
		returnPath: tx.returnPath,
		helo:       tx.helo,
		remoteName: c.remoteName(),
		ip:         c.ip,
		hostname:   s.opts.Hostname,
		proto:      withProtocol(tx.smtputf8, tx.tls, user != ""),
		id:         id,
		date:       time.Now(),
	}
	if len(tx.rcpts) == 1 {
		// RFC 5321 §4.4: "for" names one recipient; with several it
		// would disclose Bcc recipients to each other.
		t.forRcpt = tx.rcpts[0]
	}
	if s.opts.Mode == Submission {
		return s.submitData(tx, user, log, id, t, body) // outbound.go
	}
	// Our Return-Path heads the message: one the client wrote goes.
	content := newFieldDropper(newBareCRFixer(body), dropNames("Return-Path"))
	err := s.opts.Store.Deliver(c.ctx, tx.targets, io.MultiReader(strings.NewReader(t.String()), content))
	if err != nil {
		rep := reply(err)
		if body.err != nil {
			// The client's side: size limit, long line, hang-up.
			log.Info("message not accepted", "id", id, "from", tx.from, "rcpts", len(tx.rcpts),
				"size", body.n, "code", rep.Code, "reason", body.err.Error())
		} else {
			log.Error("delivery failed", "id", id, "from", tx.from, "rcpts", len(tx.rcpts),
				"size", body.n, "code", rep.Code, "err", err)
		}
		return rep
	}
	if len(content.dropped) > 0 {
		log.Info("header fields removed", "id", id, "fields", strings.Join(content.dropped, ","))
	}
	log.Info("delivered", "id", id, "from", tx.from, "rcpts", len(tx.rcpts), "users", len(tx.targets),
		"size", body.n, "tls", tx.tls)
	// go-smtp replies "250 2.0.0 OK: queued" to a nil error and sends
	// an *SMTPError as it is; this is how the reply gets our queue id
	// (as Postfix's "queued as" does), for the sender's logs and ours.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + id}
}

// newQueueID names one received message in the Received header field, the
// reply and the log: 16 base32 characters (80 random bits).
func newQueueID() string {
	return rand.Text()[:16]
}

// dataReader passes the message through from go-smtp's DATA (or BDAT)
// reader, counting it, keeping the first error that reader returned (the
// client's failures: size limit, long line, time-out, hang-up), enforcing
// the size limit exactly (size.go), telling the connection when the whole
// message has been read (drain.go), and moving the read deadline forward as
// data arrives: the deadline go-smtp set when it read the DATA command
// would otherwise bound the whole transfer.
//
// RFC 5321 §4.5.3.2.5 wants a timeout per block of data, not per message.
// Each Read sets a new deadline; go-smtp's reader returns only when the
// buffer it was given is full (or at the end of the message), so one Read
// may wait for many network reads. When the deadline passes during a Read
// that did get data, the client was not idle for the whole timeout: the
// data is passed on and the next Read waits afresh (go-smtp's reader, its
// bufio.Reader and crypto/tls all let a read go on after a time-out). A
// client is cut only after a full timeout without a single octet, and at
// the latest after two; there is no cap on the whole transfer beyond
// MaxMessageSize. A DATA read also stops every probeInterval to look for
// an end go-smtp did not see (missedend.go), and reads on while nothing
// came and its deadline has not passed: a DATA client is cut once a full
// timeout has passed without an octet, seen at most probeInterval late.
type dataReader struct {
	r        io.Reader
	c        *conn
	timeout  time.Duration
	limit    int64
	deadline time.Time // of the last read
	n        int64
	err      error
	received bool // the end of the message was read and passed on
	bdat     bool // go-smtp passes a BDAT message through an io.Pipe

	// DATA only: the end go-smtp does not see (missedend.go).
	scan      endScanner
	kept      [2]byte // the start of a possible end, held back by scan
	nkept     int
	missedEnd bool // the message ended there: the session must answer
	small     smallRead
	seen      int64 // the connection's octets read, at the last look (readMore)
}

// smallRead is one scanRead for a caller's read too small to take it,
// handed out over as many reads as it takes.
type smallRead struct {
	buf        [64]byte
	out        []byte
	full       bool // out, got, found and err are not all handed out
	got, found bool
	err        error
}

// newDataReader starts a Data call on c reading r.
func newDataReader(r io.Reader, c *conn) *dataReader {
	c.dataStarted()
	_, bdat := r.(*io.PipeReader)
	c.bdat.Store(bdat)
	d := &dataReader{r: r, c: c, timeout: c.srv.opts.ReadTimeout, limit: c.srv.opts.MaxMessageSize, bdat: bdat}
	c.readMore(&d.seen)
	d.setDeadline()
	return d
}

func (d *dataReader) setDeadline() {
	d.deadline = time.Now().Add(d.timeout)
	d.c.nc.SetReadDeadline(d.deadline)
}

// readMore reports whether the client has sent anything since *seen, and
// moves *seen on.
func (c *conn) readMore(seen *int64) bool {
	if c.in == nil {
		return false
	}
	n := c.in.read.Load()
	more := n > *seen
	*seen = n
	return more
}

// armProbe sets the read deadline of a DATA read probeInterval ahead
// (missedend.go), or at d.deadline if that is sooner.
func (d *dataReader) armProbe() {
	if d.bdat {
		return
	}
	probe := time.Now().Add(probeInterval)
	if d.deadline.Before(probe) {
		probe = d.deadline
	}
	d.c.nc.SetReadDeadline(probe)
}

// read reads from go-smtp's reader, passing DATA through the scanner for
// an end go-smtp does not see (missedend.go); found reports that end, and
// got that the client sent something, even if scan keeps it back.
func (d *dataReader) read(p []byte) (n int, got, found bool, err error) {
	if d.bdat {
		n, err = d.r.Read(p)
		return n, n > 0, false, err
	}
	if !d.small.full && len(p) < len(d.small.buf) {
		// Too small for what scan keeps back and more (a bufio.Reader
		// filling the end of its buffer): read through d.small.
		sm := &d.small
		var m int
		m, sm.got, sm.found, sm.err = d.scanRead(sm.buf[:])
		sm.out, sm.full = sm.buf[:m], true
	}
	if sm := &d.small; sm.full {
		n = copy(p, sm.out)
		sm.out = sm.out[n:]
		if len(sm.out) > 0 {
			return n, sm.got, false, nil
		}
		sm.full = false
		return n, sm.got, sm.found, sm.err
	}
	return d.scanRead(p)
}

// scanRead is read for a p of at least 16 octets.
func (d *dataReader) scanRead(p []byte) (n int, got, found bool, err error) {
	k := copy(p, d.kept[:d.nkept])
	d.nkept = 0
	n, err = d.r.Read(p[k:])
	got = n > 0
	n += k
	m, kept, found := d.scan.scan(p[:n])
	switch {
	case found:
		return m, got, true, err
	case err == io.EOF && kept > 0:
		// go-smtp's own end: what scan kept back is text ("." is a
		// doubled dot, so it goes; ".\r" is the dot's line's end).
		if kept == 2 {
			p[m] = '\r'
			m++
		}
		return m, got, false, err
	}
	d.nkept = copy(d.kept[:], p[n-kept:n])
	return m, got, false, err
}

func (d *dataReader) Read(p []byte) (int, error) {
	if d.received {
		return 0, io.EOF
	}
	if d.err != nil {
		return 0, d.err
	}
	d.setDeadline()
	var (
		n          int
		got, found bool
		err        error
	)
	for {
		d.armProbe()
		n, got, found, err = d.read(p)
		if more := d.c.readMore(&d.seen); got || more {
			// The client is there, even when go-smtp or scan
			// keeps what it sent to itself (the dot and CR of an
			// end line, a doubled dot).
			d.deadline = time.Now().Add(d.timeout)
		}
		// A probe that found nothing to hand on, within the deadline:
		// read on.
		if n > 0 || found || !isTimeout(err) || !time.Now().Before(d.deadline) {
			break
		}
	}
	d.n += int64(n)
	switch {
	case d.n > d.limit:
		// RFC 1870 §4: the advertised SIZE is the largest accepted.
		err = smtp.ErrDataTooLarge
	case found:
		// The message is whole, whatever go-smtp read past its end (a
		// QUIT, the end of the connection).
		if !d.c.dataReceived() {
			err = errShutdown
			break
		}
		d.missedEnd = true
		d.received = true
		return n, io.EOF
	case err == nil:
	case errors.Is(err, io.EOF) && d.c.ended(d.bdat):
		// go-smtp's BDAT reader ends a chunk cut off by the end of
		// the connection as if it were whole (conn.go, ended).
		err = io.ErrUnexpectedEOF
	case errors.Is(err, io.EOF):
		if !d.c.dataReceived() {
			err = errShutdown
			break
		}
		d.received = true
		return n, io.EOF
	case isTimeout(err) && n > 0:
		err = nil
	case isTimeout(err):
		err = fmt.Errorf("%w: %w", errDataTimeout, err)
	}
	if err != nil {
		d.err = err
		// go-smtp reads the rest of a refused message under the
		// deadline it finds (drain.go, replied): the whole time-out.
		d.c.nc.SetReadDeadline(d.deadline)
	}
	return n, err
}

// discardRest reads what is left of a message the store refused before
// its end, so that each read gets a new deadline: go-smtp would read it
// under the last one, and a client sending the rest of a long message at a
// steady pace would be cut (and the rest read as commands: see replied).
// It stops at the size limit; go-smtp reads past that.
func (d *dataReader) discardRest() {
	if !d.received && d.err == nil {
		io.Copy(io.Discard, d)
	}
}

// isTimeout reports a read that ended at its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
