package smtpd

import (
	"crypto/rand"
	"errors"
	"io"
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
	c.setBusy(1)
	defer c.setBusy(-1)

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
	body := &dataReader{r: r, conn: c.nc, timeout: s.opts.ReadTimeout}
	if s.opts.Mode == Submission {
		return s.submitData(tx, user, log, id, t, body) // outbound.go
	}
	err := s.opts.Store.Deliver(c.ctx, tx.targets, io.MultiReader(strings.NewReader(t.String()), body))
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

// dataChunk bounds one read of message data; see dataReader.
const dataChunk = 1024

// dataReader passes the message through, counting it, keeping the first
// error go-smtp's reader returned (the client's failures: size limit, long
// line, hang-up), and moving the read deadline forward as data arrives: the
// deadline go-smtp set when it read the DATA command would otherwise bound
// the whole transfer (RFC 5321 §4.5.3.2.5 wants a timeout per data block).
//
// go-smtp's DATA reader returns only when the buffer it was given is full
// (or at the end of the message), so reads are cut to dataChunk octets: a
// client that sends at least that much per ReadTimeout is never cut off.
type dataReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
	n       int64
	err     error
}

func (d *dataReader) Read(p []byte) (int, error) {
	if len(p) > dataChunk {
		p = p[:dataChunk]
	}
	d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	n, err := d.r.Read(p)
	d.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && d.err == nil {
		d.err = err
	}
	return n, err
}
