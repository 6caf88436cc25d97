package pop3d

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mailsuite/mailsuite/mailbox"
)

// withCRLF is what RETR must send for content: the content, and a CRLF
// if it does not end with one.
func withCRLF(b []byte) []byte {
	switch {
	case len(b) == 0 || bytes.HasSuffix(b, []byte("\r\n")):
		return b
	case bytes.HasSuffix(b, []byte("\r")):
		return append(bytes.Clone(b), '\n')
	default:
		return append(bytes.Clone(b), '\r', '\n')
	}
}

func TestRetrByteIdentical(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	delivered := e.deliver(
		// Lines a client would take for the end without stuffing.
		"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\n. \r\nmiddle . dot\r\n.\r\n",
		// 8-bit UTF-8 in header and body.
		"Subject: Grüße aus Köln 日本語\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nÄrger über Öl: ✓ — ünïcödé\r\n\x80\xff raw octets\r\n",
		// No blank line, no body.
		"Subject: header only\r\n",
		// Empty body.
		"Subject: empty\r\n\r\n",
	)
	infos, _, contents := e.inbox()
	if len(infos) != len(delivered) {
		t.Fatalf("store has %d messages", len(infos))
	}

	c := e.dial()
	c.login()
	for i := range infos {
		c.cmd(fmt.Sprintf("RETR %d", i+1), fmt.Sprintf("+OK %d octets", infos[i].Size))
		got := c.body()
		if !bytes.Equal(got, withCRLF(contents[i])) {
			t.Errorf("RETR %d:\n got %q\nwant %q", i+1, got, contents[i])
		}
		if !bytes.Equal(got, withCRLF([]byte(delivered[i]))) {
			t.Errorf("RETR %d is not the delivered message:\n got %q\nwant %q", i+1, got, delivered[i])
		}
		if int64(len(contents[i])) != infos[i].Size {
			t.Errorf("message %d: size %d but content %d octets", i+1, infos[i].Size, len(contents[i]))
		}
	}
	c.cmd("STAT", fmt.Sprintf("+OK %d %d", len(infos), sumSizes(infos)))
}

// A message delivered without a final line end still ends with CRLF
// before the terminator.
func TestRetrNoFinalCRLF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver("Subject: x\r\n\r\nno line end")
	infos, _, contents := e.inbox()
	c := e.dial()
	c.login()
	c.cmd("RETR 1", fmt.Sprintf("+OK %d octets", infos[0].Size))
	got := c.body()
	if string(got) != "Subject: x\r\n\r\nno line end\r\n" || !bytes.Equal(got, withCRLF(contents[0])) {
		t.Errorf("got %q", got)
	}
}

func sumSizes(infos []mailbox.MessageInfo) int64 {
	var n int64
	for _, in := range infos {
		n += in.Size
	}
	return n
}

// bigMessage makes a message of about size octets whose body has lines of
// varied length, many starting with ".".
func bigMessage(size int) string {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("Subject: big\r\nMessage-ID: <big@example.org>\r\n\r\n")
	for b.Len() < size {
		n := r.IntN(120)
		if r.IntN(5) == 0 {
			b.WriteByte('.')
		}
		for j := 0; j < n; j++ {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

func TestRetr5MiB(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	msg := bigMessage(5 << 20)
	e.deliver(msg)
	infos, _, contents := e.inbox()
	c := e.dial()
	c.login()
	c.cmd("RETR 1", fmt.Sprintf("+OK %d octets", infos[0].Size))
	got := c.body()
	if !bytes.Equal(got, contents[0]) || string(got) != msg {
		t.Fatalf("5 MiB message differs (got %d octets, want %d)", len(got), len(contents[0]))
	}
	c.cmd("NOOP", "+OK")
}

func TestTop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver("Subject: top\r\nFrom: a@example.org\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n")
	_, _, contents := e.inbox()
	content := string(contents[0])
	head, body, _ := strings.Cut(content, "\r\n\r\n")
	bodyLines := strings.SplitAfter(body, "\r\n")

	c := e.dial()
	c.login()
	for _, n := range []int{0, 1, 2, 3, 4, 1000} {
		c.cmd(fmt.Sprintf("TOP 1 %d", n), "+OK top of message follows")
		want := head + "\r\n\r\n" + strings.Join(bodyLines[:min(n, 3)], "")
		if got := string(c.body()); got != want {
			t.Errorf("TOP 1 %d:\n got %q\nwant %q", n, got, want)
		}
	}
	// A count past any number: the whole message.
	c.cmd("TOP 1 99999999999999999999", "+OK top of message follows")
	if got, want := string(c.body()), head+"\r\n\r\n"+strings.Join(bodyLines, ""); got != want {
		t.Errorf("TOP 1 99999999999999999999:\n got %q\nwant %q", got, want)
	}
	c.cmd("TOP 1 "+strings.Repeat("9", 101), "-ERR invalid line count")
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
	e.waitSessionsEnded(1)
	// TOP does not set \Seen.
	infos, _, _ := e.inbox()
	if hasFlag(infos[0].Flags, mailbox.FlagSeen) {
		t.Errorf("TOP set \\Seen: %v", infos[0].Flags)
	}
}

// A message removed by another session after login is missing: RETR says
// so and never sends another message; the others keep their numbers.
func TestRetrExpungedElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.deliver(threeMessages...)
	infos, _, contents := e.inbox()

	c := e.dial()
	c.login()

	// An IMAP-like session removes message 2.
	acct, err := e.store.Account(testUser)
	if err != nil {
		t.Fatal(err)
	}
	f, err := acct.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Messages(); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove([]uint32{infos[1].UID}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	acct.Close()

	c.cmd("RETR 2", "-ERR message 2 no longer exists")
	c.cmd("TOP 2 0", "-ERR message 2 no longer exists")
	c.cmd("RETR 3", fmt.Sprintf("+OK %d octets", infos[2].Size))
	if got := c.body(); !bytes.Equal(got, contents[2]) {
		t.Errorf("RETR 3 after expunge of 2: %q", got)
	}
	c.cmd("LIST 2", fmt.Sprintf("+OK 2 %d", infos[1].Size))
	// Deleting the missing one and quitting still works.
	c.cmd("DELE 2", "+OK message 2 deleted")
	c.cmd("DELE 1", "+OK message 1 deleted")
	c.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (2 messages deleted)")
	e.waitSessionsEnded(1)
	left, _, _ := e.inbox()
	if len(left) != 1 || left[0].UID != infos[2].UID {
		t.Errorf("left %v, want only UID %d", left, infos[2].UID)
	}
}
