package smtpd

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// The life of one message on a connection, as Shutdown sees it.
//
// go-smtp calls Data once the client has read 354 (or with the first BDAT
// chunk), writes the reply after Data has returned, and then calls the
// session's Reset (handleData's deferred reset; the same after the last BDAT
// chunk). So one message goes:
//
//	dataStarted -> dataReceived (end of data read) -> dataEnded (Data
//	returned) -> go-smtp writes the reply -> replied (from Reset)
//
// A connection owes nothing when no Data call runs and every reply due has
// been written. Shutdown closes such a connection at once (drain) and any
// other one right after its reply, with a 421 (replied), so that a message
// that was stored is always answered: a sender that got no 250 sends again,
// and the recipient would get it twice.
//
// When Shutdown's grace ends (abort), a connection still receiving a
// message is closed: the store sees a read error and keeps nothing. One
// whose message was received in full is left to finish, since the store may
// have committed it already and it must then be answered; Shutdown waits
// finishTimeout for those.
//
// The connection is closed whole, never half: a half-close (CloseRead) is
// out of reach when the listener wraps its connections (as
// internal/connlimit does), and a reply is never pending at the moments
// chosen here.

// finishTimeout bounds how long Shutdown, once its context has ended, waits
// for connections whose message was received in full to be answered.
const finishTimeout = 5 * time.Second

// dataStarted records the start of a Data call.
func (c *conn) dataStarted() {
	c.mu.Lock()
	c.receiving++
	c.mu.Unlock()
}

// dataReceived is called by dataReader when it has read the end of the
// message, before it passes that end to the store. It reports false when
// Shutdown's grace ended first: the store must then get an error instead,
// so that it stores nothing (abort has closed, or is closing, the
// connection, and no reply will reach the client).
func (c *conn) dataReceived() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return false
	}
	c.receiving--
	c.storing++
	return true
}

// dataEnded records the end of a Data call reading through d.
func (c *conn) dataEnded(d *dataReader) {
	c.bdat.Store(false)
	c.mu.Lock()
	if d.received {
		c.storing--
	} else {
		c.receiving--
	}
	// go-smtp writes no reply for a BDAT transfer it abandoned itself
	// (RSET, EHLO or the end of the connection between chunks).
	if !errors.Is(d.err, smtp.ErrDataReset) {
		c.replyDue = true
		// When Data refused a message part way, go-smtp reads what is
		// left of it under the last read deadline (see replied).
		c.staleAfter = time.Time{}
		if !d.received {
			c.staleAfter = d.deadline
		}
	}
	closeNow := c.draining && c.idleLocked()
	c.mu.Unlock()
	if closeNow {
		c.nc.Close()
	}
}

// replied is called from the session's Reset with the connection go-smtp
// writes to (the TLS one after STARTTLS). After a Data call, go-smtp has
// just written its reply: a connection Shutdown is waiting for says 421 and
// closes now (RFC 5321 §3.8: a server may send it before the next command;
// the client reads it as the reply to that command).
//
// So does one where go-smtp may have stopped reading a refused message part
// way: it reads the rest of it under the last deadline we set, and a reply
// written at or after that deadline means the read timed out; the rest of
// the message would then be read as commands. RFC 5321 §3.8: a server may
// close after a time-out waiting for data (its reply has been written).
func (c *conn) replied(nc net.Conn) {
	c.mu.Lock()
	if !c.replyDue {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	// The reply may still be gathered in endConn (conn.go), and drain and
	// abort close c.nc once nothing is due: it leaves first. Not under
	// c.mu: a client that does not read holds this write up to the write
	// timeout, and Shutdown must not wait on that for c.mu.
	c.in.flush()
	c.mu.Lock()
	c.replyDue = false
	stale := !c.staleAfter.IsZero() && !time.Now().Before(c.staleAfter)
	drained := c.draining && c.idleLocked()
	c.mu.Unlock()
	switch {
	case stale:
		nc.Close()
	case drained:
		c.sayAndClose(nc, reply(errShutdown))
	}
}

// idleLocked reports whether the connection owes the client nothing: no
// message is being received or stored and no reply is due. c.mu is held.
func (c *conn) idleLocked() bool {
	return c.receiving == 0 && c.storing == 0 && !c.replyDue
}

// drain is Shutdown's request: close now if idle, else after the reply.
func (c *conn) drain() {
	c.mu.Lock()
	c.draining = true
	idle := c.idleLocked()
	c.mu.Unlock()
	if idle {
		c.nc.Close()
	}
}

// abort is the end of Shutdown's grace: cancel the store's work and close,
// unless a message received in full is being stored or answered (see the
// comment at the top of this file).
func (c *conn) abort() {
	c.cancel()
	c.mu.Lock()
	c.aborted = true
	c.draining = true
	spare := c.storing > 0 || c.replyDue
	c.mu.Unlock()
	if !spare {
		c.nc.Close()
	}
}

// forceClose closes the connection and cancels a delivery in progress.
func (c *conn) forceClose() {
	c.cancel()
	c.mu.Lock()
	c.aborted = true
	c.mu.Unlock()
	c.nc.Close()
}

// sayAndClose writes a last reply and closes the connection. It is for the
// replies after which the connection must end but go-smtp, which writes the
// reply to an error and then reads the next command, would not close it.
// It runs in the connection's goroutine (inside a session method), where go-smtp
// writes too, and its writer holds nothing unsent between replies; go-smtp's
// own write of the same reply then fails on the closed connection, and its
// next read ends the connection.
func (c *conn) sayAndClose(nc net.Conn, r *smtp.SMTPError) {
	nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	fmt.Fprintf(nc, "%d %d.%d.%d %s\r\n", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
	nc.Close()
}
