package pop3d

import (
	"errors"
	"strconv"

	"github.com/mailsuite/mailsuite/mailbox"
)

// cmdRetr sends a whole message (RFC 1939 §5 RETR).
func (ss *session) cmdRetr(cmd command) {
	if len(cmd.args) != 1 {
		ss.fail("-ERR RETR needs one message number")
		return
	}
	i := ss.message(cmd.args[0])
	if i < 0 {
		return
	}
	if ss.send(i, -1, "+OK "+strconv.FormatInt(ss.msgs[i].info.Size, 10)+" octets") {
		ss.retrieved++
		// Like Dovecot, RETR (not TOP) sets \Seen, so an IMAP client
		// on the same mailbox sees the message as read. The flag is
		// written in the UPDATE state with the removals (see update.go),
		// so a session that ends without QUIT changes nothing.
		ss.msgs[i].retrieved = true
	}
}

// cmdTop sends the header and the first lines of the body
// (RFC 1939 §7 TOP msg n). It changes no flag.
func (ss *session) cmdTop(cmd command) {
	if len(cmd.args) != 2 {
		ss.fail("-ERR TOP needs a message number and a line count")
		return
	}
	// Check the count first: message answers -ERR itself.
	lines, ok := parseNumber(cmd.args[1], 63)
	if !ok {
		ss.fail("-ERR invalid line count")
		return
	}
	i := ss.message(cmd.args[0])
	if i < 0 {
		return
	}
	ss.send(i, int64(lines), "+OK top of message follows")
}

// send opens message i and streams it as a multi-line response after the
// status line okLine. It reports whether the whole response went out.
// A message removed by another session since login gets -ERR, never
// another message's content: the snapshot keeps UIDs, not positions.
func (ss *session) send(i int, bodyLines int64, okLine string) bool {
	rc, _, err := ss.folder.Open(ss.msgs[i].info.UID)
	if err != nil {
		if errors.Is(err, mailbox.ErrNoMessage) {
			ss.fail("-ERR message " + strconv.Itoa(i+1) + " no longer exists")
		} else {
			ss.log.Error("pop3 open message failed", "uid", ss.msgs[i].info.UID, "err", err)
			ss.fail(errorReply(err))
		}
		return false
	}
	defer rc.Close()

	ss.ok("%s", okLine)
	if _, err := copyDotStuffed(ss.bw, rc, bodyLines); err != nil {
		// The +OK is out and part of the message may be: no -ERR can
		// follow. Close without the terminator so the client sees the
		// response as broken rather than as a shorter message.
		var se sourceError
		if errors.As(err, &se) {
			ss.log.Error("pop3 reading message failed", "uid", ss.msgs[i].info.UID, "err", err)
			ss.endReason = "message read failed"
		} else {
			ss.endReason = "write failed"
		}
		ss.quit = true
		ss.discardOutput()
		return false
	}
	ss.reply(".")
	return true
}

// discardOutput drops buffered output so that a broken response is not
// completed by the final flush; the connection is about to close.
func (ss *session) discardOutput() {
	ss.bw.Reset(deadlineWriter{c: ss.conn, timeout: ss.srv.opts.Timeout})
}
