package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// runWorker delivers the ready jobs of one key, keeping its connection
// from one job to the next.
func (q *Queue) runWorker(key string) {
	defer q.workers.Done()
	var c *conn
	defer func() {
		if c != nil {
			c.quit()
		}
		q.release(key)
	}()
	for first := true; ; first = false {
		j := q.take(key, first)
		if j == nil {
			return
		}
		if c != nil && c.sent >= q.opts.MaxMessagesPerConn {
			c.quit()
			c = nil
		}
		c = q.attempt(j, c)
	}
}

// attemptInput is what an attempt needs of the record, copied under the
// entry's lock so that the network I/O runs without it.
type attemptInput struct {
	id    string
	from  string
	utf8  bool
	eight bool // Body8BitMIME
	size  int64
	dkim  []string
	rcpts []string
}

// attempt makes one delivery attempt for j over c (or a new connection),
// records the result, and returns the connection if it can be reused.
func (q *Queue) attempt(j *job, c *conn) *conn {
	q.mu.Lock()
	e := q.entries[j.id]
	q.mu.Unlock()
	if e == nil {
		return c
	}
	e.mu.Lock()
	in := attemptInput{id: e.id, from: e.rec.From, utf8: e.rec.UTF8, size: e.rec.Size, dkim: e.rec.DKIM}
	for _, i := range j.idx {
		in.rcpts = append(in.rcpts, e.rec.Rcpts[i].Addr)
	}
	body := e.rec.Body
	e.mu.Unlock()
	if body == "" {
		// An envelope from before the body type was recorded: scan
		// the message once; the result is saved with this attempt's.
		var err error
		if body, err = scanBody(q.mailDir, e.id); err != nil {
			body = Body8BitMIME // unknown: the careful answer
		} else {
			e.mu.Lock()
			e.rec.Body = body
			e.mu.Unlock()
		}
	}
	in.eight = body == Body8BitMIME

	start := time.Now()
	c, res := q.deliver(j.key, &in, c)
	q.record(e, j, res, start)
	return c
}

// deliver sends in over c, or over a new connection if c is nil or turns
// out to be dead before anything was sent. It returns one result per
// recipient and the connection when it may be reused.
func (q *Queue) deliver(key string, in *attemptInput, c *conn) (*conn, []result) {
	if c != nil {
		res, stale := c.send(in)
		if !stale {
			if c.broken {
				c.close()
				c = nil
			}
			return c, res
		}
		// The server closed the idle connection: not a failure of
		// this message. Start over on a new one.
		c.close()
	}
	c, fail := q.connect(q.ctx, key)
	if c == nil {
		res := make([]result, len(in.rcpts))
		for i := range res {
			res[i] = fail
		}
		return nil, res
	}
	res, _ := c.send(in)
	if c.broken {
		c.close()
		c = nil
	}
	return c, res
}

// send delivers in over c: one transaction (RFC 5321 §3.3) of MAIL, a
// RCPT per recipient and DATA for those accepted, and more transactions
// at once for recipients the server put off with 452 4.5.3 (too many
// recipients, RFC 5321 §4.5.3.1.10). stale reports a reused connection
// that failed at MAIL without a reply (nothing happened; try a new
// connection).
func (c *conn) send(in *attemptInput) (res []result, stale bool) {
	res = make([]result, len(in.rcpts))
	all := func(r result) []result {
		for i := range res {
			res[i] = r
		}
		return res
	}
	if in.utf8 {
		if ok, _ := c.cl.Extension("SMTPUTF8"); !ok {
			// RFC 6531 §3.4: a message that needs SMTPUTF8 cannot go
			// to a server without it; it is returned to the sender.
			return all(c.with(result{kind: resPerm, code: "5.6.7",
				text: fmt.Sprintf("host %s does not support SMTPUTF8, which this message needs (RFC 6531 section 3.4)", c.host)})), false
		}
	}
	if in.eight {
		if ok, _ := c.cl.Extension("8BITMIME"); !ok {
			// RFC 6152 §3: 8-bit data must not go to a server
			// that does not advertise 8BITMIME; this queue does not
			// convert it to 7 bits (see eightbit.go), so it is
			// returned to the sender. RFC 3463: X.6.3, conversion
			// required but not supported.
			return all(c.with(result{kind: resPerm, code: "5.6.3",
				text: fmt.Sprintf("host %s does not support 8BITMIME (RFC 6152), and this message contains 8-bit data (octets above 127), which it cannot take; the message was not converted to 7-bit. Encode 8-bit text as quoted-printable or base64 to reach this host", c.host)})), false
		}
	}
	pending := make([]int, len(in.rcpts))
	for i := range pending {
		pending[i] = i
	}
	for first := true; len(pending) > 0; first = false {
		more, stale := c.transaction(in, pending, res, first && c.used > 0)
		if stale {
			return nil, true
		}
		// RFC 5321 §4.5.3.1.10: the client sends the rest in another
		// transaction, at once, and not as a failure. Only when some
		// recipient got through (else the server takes none at all
		// now: the 452 stands as a temporary failure) and the
		// connection is still good (else the rest keep their 452
		// and are tried again later like any deferral).
		if len(more) == len(pending) || c.broken {
			break
		}
		if len(more) > 0 {
			c.q.log.Info("server limits recipients per transaction; sending the rest in a new one",
				"id", in.id, "host", c.host, "sent", len(pending)-len(more), "rest", len(more))
		}
		pending = more
	}
	return res, false
}

// transaction runs one transaction for the recipients idx of in, filling
// their results in res. It returns the recipients the server put off
// with 452 4.5.3 (each with that reply as its result, in case they are
// not tried again in this attempt).
func (c *conn) transaction(in *attemptInput, idx []int, res []result, reused bool) (more []int, stale bool) {
	o := &c.q.opts
	for _, i := range idx {
		res[i] = result{}
	}
	all := func(r result) {
		for _, i := range idx {
			if res[i].kind == 0 {
				res[i] = r
			}
		}
	}
	// RFC 1870 §4: announce the size, with the DKIM fields we prepend.
	size := in.size
	for _, h := range in.dkim {
		size += int64(len(h))
	}
	c.used++
	c.cl.CommandTimeout = o.CommandTimeout
	// RFC 6152 §2: BODY=8BITMIME only for data that has 8-bit octets.
	c.params.strip8bit = !in.eight
	err := c.cl.Mail(in.from, &smtp.MailOptions{Size: size, UTF8: in.utf8})
	c.params.strip8bit = false
	if err != nil {
		var se *smtp.SMTPError
		isReply := errors.As(err, &se)
		if !isReply && reused {
			c.broken = true
			return nil, true
		}
		c.broken = !isReply
		all(c.with(smtpResult(err, c.host, "MAIL FROM")))
		return nil, false
	}
	accepted := 0
	for k, i := range idx {
		err := c.cl.Rcpt(in.rcpts[i], nil)
		if err == nil {
			accepted++
			continue
		}
		res[i] = c.with(smtpResult(err, c.host, "RCPT TO"))
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			c.broken = true
			all(res[i])
			return nil, false
		}
		if tooManyRecipients(se) {
			// RFC 5321 §4.5.3.1.10: this and the rest go in the
			// next transaction.
			more = append(more, idx[k:]...)
			for _, j := range more {
				res[j] = res[i]
			}
			break
		}
	}
	if accepted == 0 {
		if err := c.cl.Reset(); err != nil {
			c.broken = true
		}
		return more, false
	}
	// RFC 5321 §4.5.3.2.4: 2 minutes for the 354.
	c.cl.CommandTimeout = o.DataInitTimeout
	w, err := c.cl.Data()
	c.cl.CommandTimeout = o.CommandTimeout
	if err != nil {
		r := c.with(smtpResult(err, c.host, "DATA"))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || c.cl.Reset() != nil {
			c.broken = true
		}
		all(r)
		return more, false
	}
	if err := c.writeData(w, in); err != nil {
		c.broken = true
		all(c.with(smtpResult(err, c.host, "the message")))
		return more, false
	}
	// RFC 5321 §4.5.3.2.6: 10 minutes for the reply to the final dot
	// (SubmissionTimeout).
	if _, err := w.CloseWithResponse(); err != nil {
		var se *smtp.SMTPError
		c.broken = !errors.As(err, &se)
		all(c.with(smtpResult(err, c.host, "end of data")))
		return more, false
	}
	c.sent++
	all(c.with(result{kind: resSent, code: "2.0.0", remote: c.host}))
	return more, false
}

// tooManyRecipients recognises the reply RFC 5321 §4.5.3.1.10 gives for
// recipients beyond the server's limit: 452, and 4.5.3 when an enhanced
// code is given (RFC 3463: too many recipients). 452 alone also means
// "insufficient storage" (4.3.1), which is not this.
func tooManyRecipients(se *smtp.SMTPError) bool {
	if se.Code != 452 {
		return false
	}
	if se.EnhancedCode[0] > 0 {
		return se.EnhancedCode == smtp.EnhancedCode{4, 5, 3}
	}
	return strings.Contains(strings.ToLower(se.Message), "too many recipients")
}

// with fills in the connection's host and TLS state.
func (c *conn) with(r result) result {
	r.remote, r.tls = c.host, c.tls
	return r
}

// writeData streams the DKIM fields and the message file. Each write has
// its own deadline (RFC 5321 §4.5.3.2.5: 3 minutes per data block):
// go-smtp sets none while the data is sent.
func (c *conn) writeData(w io.Writer, in *attemptInput) error {
	f, err := os.Open(filepath.Join(c.q.mailDir, in.id+".msg"))
	if err != nil {
		return err
	}
	defer f.Close()
	dw := &deadlineWriter{w: w, conn: c, d: c.q.opts.DataBlockTimeout}
	for _, h := range in.dkim {
		if _, err := io.WriteString(dw, h); err != nil {
			return err
		}
	}
	buf := make([]byte, 32<<10)
	_, err = io.CopyBuffer(dw, f, buf)
	return err
}

type deadlineWriter struct {
	w    io.Writer
	conn *conn
	d    time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.conn.raw.SetWriteDeadline(time.Now().Add(d.d))
	return d.w.Write(p)
}

// record stores the results of an attempt in e's record, durably, before
// anything else happens (so that a restart never sends again to a
// recipient that was accepted), then tells the sender of failures and
// plans the retries.
func (q *Queue) record(e *entry, j *job, res []result, start time.Time) {
	q.mu.Lock()
	deleted := e.deleted
	q.mu.Unlock()
	if deleted {
		// `queue delete` came during the attempt: nothing to record,
		// nobody to tell.
		q.logAttempt(j, firstProblem(res), res, 0, 0, 0, time.Since(start))
		q.mu.Lock()
		q.requeueLocked(e, nil, time.Time{}, false)
		q.mu.Unlock()
		return
	}
	now := time.Now()
	e.mu.Lock()
	rec := e.rec
	expire := rec.Created.Add(q.opts.Lifetime)
	var retry []int
	var at time.Time
	var nSent, nTemp, nPerm int
	for k, i := range j.idx {
		r, x := &rec.Rcpts[i], res[k]
		r.Attempts++
		r.Last = now.UTC()
		r.Remote, r.TLS, r.Code, r.Reply, r.Error = x.remote, x.tls, x.code, x.reply, cleanText(x.text, maxTextLen)
		switch x.kind {
		case resSent:
			nSent++
			r.Status, r.Next = StatusSent, time.Time{}
		case resPerm:
			nPerm++
			r.Status, r.Next = StatusFailed, time.Time{}
		default:
			if !now.Before(expire) {
				nPerm++
				// RFC 3463: X.4.7, delivery time expired.
				r.Status, r.Next, r.Code = StatusFailed, time.Time{}, "4.4.7"
				r.Error = cleanText(fmt.Sprintf("delivery time expired: not delivered after %s; last error: %s",
					q.opts.Lifetime, x.text), maxTextLen)
				break
			}
			nTemp++
			next := now.Add(q.backoff(r.Attempts))
			if next.After(expire) {
				next = expire // one last try at the end of the lifetime
			}
			r.Next = next.UTC()
			retry = append(retry, i)
			if at.IsZero() || next.Before(at) {
				at = next
			}
		}
	}
	if err := q.saveLocked(e); err != nil {
		q.log.Error("cannot record delivery result; will not send again to these recipients while running, but a crash now could",
			"id", e.id, "err", err)
	}
	pending := false
	if nPerm > 0 || nTemp > 0 {
		pending = q.notifyLocked(e, now)
	}
	e.mu.Unlock()

	q.logAttempt(j, firstProblem(res), res, nSent, nTemp, nPerm, time.Since(start))
	q.mu.Lock()
	q.requeueLocked(e, retry, at, pending)
	q.mu.Unlock()
	q.kick()
}

// firstProblem returns the first result that is not a success, for the
// log line.
func firstProblem(res []result) result {
	for _, r := range res {
		if r.kind != resSent {
			return r
		}
	}
	if len(res) > 0 {
		return res[0]
	}
	return result{}
}

// logAttempt writes the one log line of an attempt.
func (q *Queue) logAttempt(j *job, first result, res []result, nSent, nTemp, nPerm int, d time.Duration) {
	args := []any{"id", j.id, "dest", strings.TrimPrefix(strings.TrimPrefix(j.key, keyMX), keyRoute),
		"rcpts", len(res), "sent", nSent, "deferred", nTemp, "failed", nPerm,
		"host", first.remote, "tls", first.tls, "duration", d.Round(time.Millisecond)}
	if nTemp+nPerm == 0 {
		q.log.Info("delivery attempt", args...)
		return
	}
	args = append(args, "code", first.code, "reason", first.text)
	q.log.Warn("delivery attempt", args...)
}

// backoff is the wait after the n-th failed attempt: RetryMin, doubling,
// at most RetryMax.
func (q *Queue) backoff(n int) time.Duration {
	d := q.opts.RetryMin
	for i := 1; i < n && d < q.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, q.opts.RetryMax)
}
