package pop3d

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
)

// state is the RFC 1939 §3 session state. UPDATE is not a state a session
// waits in: it is the work QUIT does before closing.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
)

// message is one entry of the maildrop snapshot taken at login.
type message struct {
	info      mailbox.MessageInfo
	deleted   bool // DELE mark
	retrieved bool // RETR done: \Seen at UPDATE
}

// session is one POP3 connection. All its fields belong to its goroutine.
type session struct {
	srv  *Server
	tc   *trackedConn
	conn net.Conn // the current transport: raw, or *tls.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	out  *deadlineWriter // under bw
	// msgBuf reads messages for RETR and TOP, made at the first and
	// reused: one per message was most of what a RETR allocated.
	msgBuf *bufio.Reader
	log    *slog.Logger

	tls      bool
	loopback bool
	state    state
	quit     bool // the session is over; close after flushing

	pendingUser  string // name from USER, waiting for PASS
	errors       int    // consecutive -ERR answers
	authFailures int

	user   string // canonical address once logged in
	locked bool   // holds the ExclusiveLogin lock of user
	acct   mailbox.Account
	folder mailbox.Folder
	msgs   []message

	retrieved int // RETR count
	removed   int // messages removed at UPDATE
	endReason string
}

// maxLineFactor: a command line longer than MaxLineLength is skipped with
// -ERR; one longer than this many times the limit ends the connection.
const maxLineFactor = 16

var (
	errLineTooLong = errors.New("pop3d: line too long")
	errLineAbusive = errors.New("pop3d: line far too long")
	errShutdown    = errors.New("pop3d: server shutting down")
)

func (s *Server) serveConn(c net.Conn, tc *trackedConn) {
	ss := &session{
		srv:       s,
		tc:        tc,
		conn:      c,
		endReason: "client closed connection",
	}
	ss.log = s.log.With("proto", "pop3", "remote", c.RemoteAddr().String(),
		"conn", s.nextID.Add(1))
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		ss.loopback = ap.Addr().Unmap().IsLoopback()
	}
	start := time.Now()
	defer func() {
		// A bug must cost one connection, not the server (which serves
		// SMTP and IMAP too). No UPDATE state: nothing is removed.
		if r := recover(); r != nil {
			ss.endReason = "internal error"
			ss.log.Error("pop3 session panic", "panic", r, "stack", string(debug.Stack()))
		}
		ss.closeMaildrop()
		tc.raw.Close()
		if c != tc.raw {
			c.Close()
		}
		ss.log.Info("pop3 session end", "reason", ss.endReason,
			"retrieved", ss.retrieved, "deleted", ss.removed,
			"duration", time.Since(start).Round(time.Millisecond))
	}()

	if t, ok := c.(*tls.Conn); ok {
		// Implicit TLS (port 995): the caller's listener wrapped it.
		t.SetDeadline(time.Now().Add(s.opts.Timeout))
		if err := t.Handshake(); err != nil {
			ss.endReason = "TLS handshake failed"
			ss.log.Info("pop3 TLS handshake failed", "err", err)
			return
		}
		t.SetDeadline(time.Time{})
		ss.tls = true
	}
	ss.setTransport(c)

	// RFC 1939 §4: the greeting. No APOP timestamp: APOP is not offered.
	ss.reply("+OK %s POP3 server ready", s.opts.Hostname)
	ss.run()
}

// setTransport (re)creates the buffered reader and writer over c. A new
// reader drops whatever the old one held (RFC 2595 §4, after STLS).
func (ss *session) setTransport(c net.Conn) {
	ss.conn = c
	ss.br = bufio.NewReaderSize(c, 4096)
	ss.out = &deadlineWriter{c: c, timeout: ss.srv.opts.Timeout}
	ss.bw = bufio.NewWriterSize(ss.out, 32<<10)
}

// run reads and answers commands until the session ends.
func (ss *session) run() {
	for !ss.quit {
		if !ss.flushIfIdle() {
			return
		}
		line, err := ss.readLine(ss.srv.opts.MaxLineLength)
		switch {
		case err == nil:
		case errors.Is(err, errLineTooLong):
			// RFC 2449 §4: 255 octets including CRLF.
			ss.fail("-ERR line too long")
			continue
		default:
			ss.readFailed(err)
			return
		}
		ss.dispatch(line)
	}
	ss.bw.Flush()
}

// flushIfIdle sends the buffered answers unless another whole command is
// already waiting (RFC 2449 §6.6 PIPELINING: answers may be batched).
func (ss *session) flushIfIdle() bool {
	if n := ss.br.Buffered(); n > 0 {
		if buf, _ := ss.br.Peek(n); bytes.IndexByte(buf, '\n') >= 0 {
			return true
		}
	}
	if err := ss.bw.Flush(); err != nil {
		ss.endReason = "write failed"
		return false
	}
	return true
}

// readFailed ends the session after a failed read, saying why when the
// client can still hear it. No UPDATE state (RFC 1939 §6).
func (ss *session) readFailed(err error) {
	switch {
	case errors.Is(err, errShutdown) || (ss.srv.shuttingDown.Load() && isTimeout(err)):
		ss.endReason = "server shutdown"
		ss.reply("-ERR [SYS/TEMP] server shutting down")
	case errors.Is(err, errLineAbusive):
		ss.endReason = "line far too long"
		ss.reply("-ERR line too long, closing connection")
	case isTimeout(err):
		// RFC 1939 §3: the autologout timer expired.
		ss.endReason = "timeout"
		ss.reply("-ERR autologout: idle for too long")
	case errors.Is(err, io.EOF):
		ss.endReason = "client closed connection"
	default:
		ss.endReason = "read failed"
	}
	ss.bw.Flush()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// readLine reads one line of at most limit octets (terminator included)
// and returns it without its CRLF (or bare LF). A longer line is read to
// its end and dropped: errLineTooLong; beyond maxLineFactor×limit the
// connection is not worth reading further: errLineAbusive.
func (ss *session) readLine(limit int) (string, error) {
	if !ss.tc.beginRead(ss.srv, time.Now().Add(ss.srv.opts.Timeout)) {
		return "", errShutdown
	}
	defer ss.tc.endRead()

	var line []byte
	total := 0
	tooLong := false
	for {
		chunk, err := ss.br.ReadSlice('\n')
		total += len(chunk)
		if !tooLong {
			if total > limit {
				tooLong = true
				line = nil
			} else {
				line = append(line, chunk...)
			}
		}
		if total > maxLineFactor*limit {
			return "", errLineAbusive
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return "", err
	}
	if tooLong {
		return "", errLineTooLong
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return string(line), nil
}

// reply writes one response line. Write errors surface at the next flush.
func (ss *session) reply(format string, args ...any) {
	fmt.Fprintf(ss.bw, format, args...)
	ss.bw.WriteString("\r\n")
}

// ok answers +OK and resets the consecutive error count.
func (ss *session) ok(format string, args ...any) {
	ss.errors = 0
	ss.reply(format, args...)
}

// fail answers a -ERR line and ends the session after MaxErrors in a row.
func (ss *session) fail(line string) {
	ss.reply("%s", line)
	ss.errors++
	if ss.errors >= ss.srv.opts.MaxErrors {
		ss.endReason = "too many errors"
		ss.log.Info("pop3 too many errors, closing", "errors", ss.errors)
		ss.quit = true
	}
}

// accountRemoved ends the session of a user deleted since login
// (`mailsuite user del`, from another process too), before the command
// runs: users.DB.HasUser is asked before every command (a lookup in
// memory, which looks at the users file at most once a second). No UPDATE
// state (RFC 1939 §6): nothing marked is removed. RFC 3206 [SYS/PERM]:
// trying again will not help.
func (ss *session) accountRemoved() {
	ss.endReason = "account removed"
	ss.log.Info("account removed; closing session")
	ss.reply("-ERR [SYS/PERM] your account was removed, closing connection")
	ss.quit = true
}

// closeMaildrop releases the folder, account and login lock.
func (ss *session) closeMaildrop() {
	if ss.folder != nil {
		if err := ss.folder.Close(); err != nil {
			ss.log.Warn("pop3 folder close failed", "err", err)
		}
		ss.folder = nil
	}
	if ss.acct != nil {
		if err := ss.acct.Close(); err != nil {
			ss.log.Warn("pop3 account close failed", "err", err)
		}
		ss.acct = nil
	}
	if ss.locked {
		ss.srv.unlockUser(ss.user)
		ss.locked = false
	}
}

// loginAllowed reports whether credentials may be sent now: over TLS, or
// in plaintext from loopback when the admin allowed it (DESIGN.md, 5).
func (ss *session) loginAllowed() bool {
	return ss.tls || (ss.srv.opts.AllowPlaintext && ss.loopback)
}
