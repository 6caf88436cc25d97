package pop3d

import (
	"bufio"
	"errors"
	"math"
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
	if !ok && allDigits(cmd.args[1], 100) {
		// A count past any message's length (RFC 1939 §7: "n must
		// be a non-negative number"): all of the body.
		lines, ok = math.MaxInt64, true
	}
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

	// Send the answers still buffered, so that if reading the message
	// fails before any of it went out, the buffer holds only this
	// response and can be replaced by -ERR.
	if err := ss.bw.Flush(); err != nil {
		ss.endReason = "write failed"
		ss.quit = true
		return false
	}
	mark := ss.out.written
	ss.ok("%s", okLine)
	if ss.msgBuf == nil {
		ss.msgBuf = bufio.NewReaderSize(rc, copyBufferSize)
	} else {
		ss.msgBuf.Reset(rc)
	}
	_, err = copyDotStuffed(ss.bw, ss.msgBuf, bodyLines)
	ss.msgBuf.Reset(nil)
	if err == nil {
		ss.reply(".")
		return true
	}
	var se sourceError
	if !errors.As(err, &se) {
		ss.endReason = "write failed"
		ss.quit = true
		return false
	}
	ss.log.Error("pop3 reading message failed", "uid", ss.msgs[i].info.UID, "err", err)
	ss.bw.Reset(ss.out)
	if ss.out.written == mark {
		// Nothing of the +OK reached the client: answer -ERR instead.
		ss.fail(errorReply(err))
		return false
	}
	// The +OK and part of the message are out; no -ERR can follow. Close
	// without the terminator, so the client sees a broken response rather
	// than a shorter message.
	ss.endReason = "message read failed"
	ss.quit = true
	return false
}
