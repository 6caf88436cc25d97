package smtpd

import (
	"strings"
	"testing"
)

// sizedMessage is a message of exactly n octets (n > 20).
func sizedMessage(n int) string {
	const head = "Subject: exact\r\n\r\n"
	return head + strings.Repeat("x", n-len(head)-2) + "\r\n"
}

// RFC 1870 §4: the SIZE that EHLO advertises is the largest message
// accepted. A message of exactly that many octets goes through and one
// more does not, whether declared at MAIL or sent with DATA or BDAT; the
// limit stays the same from one transaction to the next.
func TestSizeLimitIsExact(t *testing.T) {
	const limit = 1000
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.MaxMessageSize = limit
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	exact, over := sizedMessage(limit), sizedMessage(limit+1)
	if len(exact) != limit || len(over) != limit+1 {
		t.Fatalf("test messages are %d and %d octets", len(exact), len(over))
	}
	const (
		tooBigMail = "552 5.3.4 Max message size exceeded"
		tooBigData = "552 5.3.4 Maximum message size exceeded"
		mailOK     = "250 2.0.0 Roger, accepting mail from <sender@remote.example>"
		rcptOK     = "250 2.0.0 I'll make sure <alice@example.org> gets this"
		goAhead    = "354 Go ahead. End your data with <CR><LF>.<CR><LF>"
	)

	var ids []string
	for round := range 2 {
		// EHLO again on the second round: a new EHLO resets.
		if ehlo := c.cmd("EHLO client.example"); !hasLine(ehlo, "SIZE 1000") {
			t.Errorf("round %d: EHLO does not advertise SIZE 1000:\n%s", round, ehlo)
		}
		c.expect("MAIL FROM:<sender@remote.example> SIZE=1001", tooBigMail)
		c.expect("MAIL FROM:<sender@remote.example> SIZE=1000", mailOK)
		c.expect("RCPT TO:<alice@example.org>", rcptOK)
		c.expect("DATA", goAhead)
		c.nc.Write([]byte(exact + ".\r\n"))
		ids = append(ids, queueID(t, strings.TrimPrefix(c.read(), "250 ")))

		// After a transaction, MAIL sees the advertised limit again.
		c.expect("MAIL FROM:<sender@remote.example> SIZE=1001", tooBigMail)
		c.expect("MAIL FROM:<sender@remote.example>", mailOK)
		c.expect("RCPT TO:<alice@example.org>", rcptOK)
		c.expect("DATA", goAhead)
		c.nc.Write([]byte(over + ".\r\n"))
		if got := c.read(); got != tooBigData {
			t.Errorf("round %d: DATA of %d octets: %q, want %q", round, limit+1, got, tooBigData)
		}

		// RFC 3030: BDAT, the same boundary.
		c.expect("MAIL FROM:<sender@remote.example> SIZE=1000", mailOK)
		c.expect("RCPT TO:<alice@example.org>", rcptOK)
		c.nc.Write([]byte("BDAT 1000 LAST\r\n" + exact))
		ids = append(ids, queueID(t, strings.TrimPrefix(c.read(), "250 ")))
		c.expect("MAIL FROM:<sender@remote.example>", mailOK)
		c.expect("RCPT TO:<alice@example.org>", rcptOK)
		c.nc.Write([]byte("BDAT 1001 LAST\r\n" + over))
		if got := c.read(); got != tooBigData {
			t.Errorf("round %d: BDAT of %d octets: %q, want %q", round, limit+1, got, tooBigData)
		}
		// And with the message in two chunks.
		c.expect("MAIL FROM:<sender@remote.example>", mailOK)
		c.expect("RCPT TO:<alice@example.org>", rcptOK)
		c.nc.Write([]byte("BDAT 500\r\n" + over[:500]))
		if got := c.read(); got != "250 2.0.0 Continue" {
			t.Fatalf("round %d: first chunk: %q", round, got)
		}
		c.nc.Write([]byte("BDAT 501 LAST\r\n" + over[500:]))
		if got := c.read(); got != tooBigData {
			t.Errorf("round %d: BDAT of %d octets in two chunks: %q, want %q", round, limit+1, got, tooBigData)
		}
	}
	c.expect("NOOP", "250 2.0.0 I have successfully done nothing")
	waitFor(t, "the refused deliveries to end", func() bool { return r.srv.busyConns() == 0 })

	got := e.inbox("alice@example.org")
	if len(got) != len(ids) {
		t.Fatalf("alice has %d messages, want %d", len(got), len(ids))
	}
	for i, m := range got {
		if body := wantTrace(t, m.data, "<sender@remote.example>", fromClient, "ESMTP", ids[i], "alice@example.org"); body != exact {
			t.Errorf("message %d: body of %d octets differs", i, len(body))
		}
	}
	if files := e.mailFiles(); len(files) != len(ids) {
		t.Errorf("files on disk: %q, want %d", files, len(ids))
	}
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
