package pop3d

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Every malformed or misplaced command gets a clear -ERR, the session
// goes on, and the store does not change.
func TestMalformedCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxErrors = 1000 })
	e.deliver(threeMessages...)
	before := e.diskFiles()

	c := e.dial()
	for _, tt := range []struct{ cmd, want string }{
		{"", "-ERR empty command"},
		{"   ", "-ERR empty command"},
		{"XYZZY", "-ERR unknown command"},
		{"NO", "-ERR unknown command"},
		{"R3TR 1", "-ERR unknown command"},
		{"STAT\x00", "-ERR invalid characters in command"},
		{"USER\tx", "-ERR invalid characters in command"},
		{"STAT", "-ERR not logged in"},
		{"LIST", "-ERR not logged in"},
		{"RETR 1", "-ERR not logged in"},
		{"DELE 1", "-ERR not logged in"},
		{"TOP 1 1", "-ERR not logged in"},
		{"UIDL", "-ERR not logged in"},
		{"RSET", "-ERR not logged in"},
		{"NOOP", "-ERR not logged in"},
		{"USER", "-ERR USER needs a name"},
		{"PASS x", "-ERR send USER first"},
		{"QUIT now", "-ERR QUIT takes no arguments"},
	} {
		c.cmd(tt.cmd, tt.want)
	}
	c.cmd("USER "+testUser, "+OK send PASS")
	c.cmd("PASS", "-ERR PASS needs a password")
	c.login()
	for _, tt := range []struct{ cmd, want string }{
		{"USER " + testUser, "-ERR already logged in"},
		{"PASS " + testPassword, "-ERR already logged in"},
		{"AUTH PLAIN", "-ERR already logged in"},
		{"STLS", "-ERR STLS only before login"},
		{"STAT 1", "-ERR STAT takes no arguments"},
		{"NOOP 1", "-ERR NOOP takes no arguments"},
		{"RSET 1", "-ERR RSET takes no arguments"},
		{"LIST x", "-ERR invalid message number"},
		{"LIST -1", "-ERR invalid message number"},
		{"LIST +1", "-ERR invalid message number"},
		{"LIST 1.0", "-ERR invalid message number"},
		{"LIST 0", "-ERR no such message"},
		{"LIST 4", "-ERR no such message"},
		{"LIST 4294967295", "-ERR no such message"},
		{"LIST 4294967296", "-ERR invalid message number"},
		{"LIST 99999999999999999999999", "-ERR invalid message number"},
		{"LIST 1 2", "-ERR too many arguments"},
		{"UIDL x", "-ERR invalid message number"},
		{"UIDL 0", "-ERR no such message"},
		{"UIDL 1 2", "-ERR too many arguments"},
		{"RETR", "-ERR RETR needs one message number"},
		{"RETR 1 2", "-ERR RETR needs one message number"},
		{"RETR 0", "-ERR no such message"},
		{"RETR 4", "-ERR no such message"},
		{"RETR one", "-ERR invalid message number"},
		{"TOP", "-ERR TOP needs a message number and a line count"},
		{"TOP 1", "-ERR TOP needs a message number and a line count"},
		{"TOP 1 2 3", "-ERR TOP needs a message number and a line count"},
		{"TOP 1 x", "-ERR invalid line count"},
		{"TOP 1 -1", "-ERR invalid line count"},
		{"TOP x 1", "-ERR invalid message number"},
		{"TOP 9 1", "-ERR no such message"},
		{"DELE", "-ERR DELE needs one message number"},
		{"DELE 1 2", "-ERR DELE needs one message number"},
		{"DELE 0", "-ERR no such message"},
		{"DELE x", "-ERR invalid message number"},
		{"DELE 1", "+OK message 1 deleted"},
		{"DELE 1", "-ERR message 1 already deleted"},
		{"RETR 1", "-ERR message 1 already deleted"},
		{"TOP 1 0", "-ERR message 1 already deleted"},
		{"APOP a b", "-ERR already logged in"},
		{"XTND XMIT", "-ERR unknown command"},
		{"LAST", "-ERR unknown command"},
	} {
		c.cmd(tt.cmd, tt.want)
	}
	_, size := e.totals()
	c.cmd("RSET", fmt.Sprintf("+OK maildrop has 3 messages (%d octets)", size))
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
	e.waitSessionsEnded(1)
	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed: %v", sortedKeys(after))
	}
}

// MaxErrors consecutive errors close the connection; a success in
// between resets the count.
func TestTooManyErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxErrors = 3 })
	e.deliver(threeMessages...)
	before := e.diskFiles()
	c := e.dial()
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("BAD1", "-ERR unknown command")
	c.cmd("BAD2", "-ERR unknown command")
	c.cmd("NOOP", "+OK")
	c.cmd("BAD3", "-ERR unknown command")
	c.cmd("LIST 0", "-ERR no such message")
	c.cmd("RETR x", "-ERR invalid message number")
	c.expectClosed()
	e.waitSessionsEnded(1)
	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed: %v", sortedKeys(after))
	}
	if end := e.logs.find("pop3 session end"); end[0]["reason"] != "too many errors" {
		t.Errorf("session end %v", end[0])
	}
}

// RFC 2449 §4: a command line is at most 255 octets with its CRLF.
func TestLineTooLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	before := e.diskFiles()
	c := e.dial()
	c.login()
	c.cmd("NOOP"+strings.Repeat(" ", 255-len("NOOP\r\n")), "+OK") // exactly 255
	c.cmd("NOOP"+strings.Repeat(" ", 256-len("NOOP\r\n")), "-ERR line too long")
	c.cmd("DELE 1"+strings.Repeat(" ", 1000), "-ERR line too long")
	c.cmd("STAT", fmt.Sprintf("+OK 3 %d", sumSizesOf(e)))
	// Far too long: the connection is closed.
	// Exactly one read buffer and no line end, so the server has read all
	// of it when it closes (unread input would make the close a reset).
	if _, err := c.conn.Write([]byte(strings.Repeat("x", 4096))); err != nil {
		t.Fatal(err)
	}
	c.expect("-ERR line too long, closing connection")
	c.expectClosed()
	e.waitSessionsEnded(1)
	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed: %v", sortedKeys(after))
	}
}

func sumSizesOf(e *env) int64 {
	_, size := e.totals()
	return size
}

func TestMaxLineLengthOption(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.MaxLineLength = 20 })
	c := e.dial()
	c.cmd("NOOP"+strings.Repeat(" ", 14), "-ERR not logged in") // 20 octets
	c.cmd("NOOP"+strings.Repeat(" ", 15), "-ERR line too long")
}

// RFC 1939 §3: the autologout timer. A session that times out changes
// nothing.
func TestTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.Timeout = 200 * time.Millisecond })
	e.deliver(threeMessages...)
	before := e.diskFiles()
	c := e.dial()
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.expect("-ERR autologout: idle for too long")
	c.expectClosed()
	e.waitSessionsEnded(1)
	if after := e.diskFiles(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("store changed: %v", sortedKeys(after))
	}
	if end := e.logs.find("pop3 session end"); end[0]["reason"] != "timeout" {
		t.Errorf("session end %v", end[0])
	}
}
