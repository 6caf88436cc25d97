package smtpd

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

func TestOversizedMessage(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.MaxMessageSize = 1000
	r := e.start(opts, false)

	c := dialRaw(t, r.addr, nil)
	if ehlo := c.cmd("EHLO client.example"); !strings.Contains(ehlo, "\nSIZE 1000") {
		t.Errorf("EHLO does not advertise SIZE 1000:\n%s", ehlo)
	}
	// RFC 1870 §6.3: a declared size over the limit is refused at MAIL.
	c.expect("MAIL FROM:<sender@remote.example> SIZE=1001", "552 5.3.4 Max message size exceeded")
	c.expect("MAIL FROM:<sender@remote.example> SIZE=1000", "250 2.0.0 Roger, accepting mail from <sender@remote.example>")
	c.expect("RSET", "250 2.0.0 Session reset")

	// Undeclared (or understated) size: refused at the end of DATA, and
	// nothing stored, new/ and tmp/ included.
	c.expect("MAIL FROM:<sender@remote.example> SIZE=10", "250 2.0.0 Roger, accepting mail from <sender@remote.example>")
	c.expect("RCPT TO:<alice@example.org>", "250 2.0.0 I'll make sure <alice@example.org> gets this")
	c.expect("RCPT TO:<bob@example.org>", "250 2.0.0 I'll make sure <bob@example.org> gets this")
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 20))
	c.expect(".", "552 5.3.4 Maximum message size exceeded")
	e.wantNoMail()
	e.wantLog(`msg="message not accepted"`, "code=552", "rcpts=2")

	// The connection is still in step: a message under the limit (999
	// octets) goes through.
	msg := "Subject: small\r\n\r\n" + strings.Repeat("y", 999-18-2) + "\r\n"
	if len(msg) != 999 {
		t.Fatalf("test message is %d octets", len(msg))
	}
	c.expect("MAIL FROM:<sender@remote.example>", "250 2.0.0 Roger, accepting mail from <sender@remote.example>")
	c.expect("RCPT TO:<alice@example.org>", "250 2.0.0 I'll make sure <alice@example.org> gets this")
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send(strings.TrimSuffix(msg, "\r\n"))
	id := queueID(t, strings.TrimPrefix(c.cmd("."), "250 "))
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages, want 1", len(got))
	}
	if body := wantTrace(t, got[0].data, "<sender@remote.example>", fromClient, "ESMTP", id, "alice@example.org"); body != msg {
		t.Errorf("body differs")
	}
}

func TestOversizedMessageBDAT(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.MaxMessageSize = 1000
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expectPrefix("MAIL FROM:<sender@remote.example>", "250 ")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	chunk := strings.Repeat("z", 600)
	c.nc.Write([]byte("BDAT 600\r\n" + chunk))
	if got := c.read(); got != "250 2.0.0 Continue" {
		t.Fatalf("first chunk: %s", got)
	}
	c.nc.Write([]byte("BDAT 600 LAST\r\n" + chunk))
	if got := c.read(); got != "552 5.3.4 Max message size exceeded" {
		t.Errorf("second chunk: %s", got)
	}
	c.expect("NOOP", "250 2.0.0 I have successfully done nothing")
	waitFor(t, "the abandoned delivery to end", func() bool { return r.srv.busyConns() == 0 })
	e.wantNoMail()
}

func TestBDAT(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expectPrefix("MAIL FROM:<sender@remote.example>", "250 ")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	// RFC 3030: no dot-stuffing, binary-clean chunks.
	part1 := "Subject: chunks\r\n\r\n.not stuffed\r\n"
	part2 := ".\r\nlast\r\n"
	c.nc.Write([]byte("BDAT " + itoa(len(part1)) + "\r\n" + part1))
	if got := c.read(); got != "250 2.0.0 Continue" {
		t.Fatalf("first chunk: %s", got)
	}
	c.nc.Write([]byte("BDAT " + itoa(len(part2)) + " LAST\r\n" + part2))
	id := queueID(t, strings.TrimPrefix(c.read(), "250 "))
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	if body := wantTrace(t, got[0].data, "<sender@remote.example>", fromClient, "ESMTP", id, "alice@example.org"); body != part1+part2 {
		t.Errorf("body %q, want %q", body, part1+part2)
	}
}

func TestTooManyRecipients(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.MaxRecipients = 2
	r := e.start(opts, true)
	c := dialTLS(t, r.addr, e.clientTLS)
	c.Hello("client.example")
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", alicePass)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	// A refused recipient does not count.
	wantErr(t, c.Rcpt("nobody@example.org", nil), "550 5.1.1 No such user here")
	for _, rcpt := range []string{"bob@example.org", "carol@example.net"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, c.Rcpt("alice@example.org", nil), "452 4.5.3 Too many recipients")
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: two\r\n\r\nx\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(e.inbox("bob@example.org")) != 1 || len(e.inbox("carol@example.net")) != 1 {
		t.Error("bob and carol should have the message")
	}
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("alice, the third recipient, has %d messages", n)
	}
	e.wantLog(`msg="recipient rejected"`, "rcpt=alice@example.org", "code=452")
}

func TestPipelining(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	// RFC 2920 §3.1: the whole envelope in one write, replies in order.
	c.nc.Write([]byte("MAIL FROM:<sender@remote.example>\r\n" +
		"RCPT TO:<alice@example.org>\r\n" +
		"RCPT TO:<nobody@example.org>\r\n" +
		"RCPT TO:<bob@example.org>\r\n" +
		"DATA\r\n"))
	for _, want := range []string{
		"250 2.0.0 Roger, accepting mail from <sender@remote.example>",
		"250 2.0.0 I'll make sure <alice@example.org> gets this",
		"550 5.1.1 No such user here",
		"250 2.0.0 I'll make sure <bob@example.org> gets this",
		"354 Go ahead. End your data with <CR><LF>.<CR><LF>",
	} {
		if got := c.read(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	c.nc.Write([]byte("Subject: piped\r\n\r\nbody\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n"))
	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Errorf("end of data: %q", got)
	}
	for _, want := range []string{"250 2.0.0 Session reset", "250 2.0.0 I have successfully done nothing", "221 2.0.0 Bye"} {
		if got := c.read(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if len(e.inbox("alice@example.org")) != 1 || len(e.inbox("bob@example.org")) != 1 {
		t.Error("alice and bob should have the message")
	}
}

func TestLongLines(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.MaxLineLength = 200
	r := e.start(opts, false)

	t.Run("in DATA", func(t *testing.T) {
		c := dialRaw(t, r.addr, nil)
		openData(t, c, "alice@example.org")
		c.send("Subject: long\r\n\r\n" + strings.Repeat("w", 300))
		c.send(".")
		if got := c.read(); got != "500 5.5.2 Line too long" {
			t.Errorf("got %q", got)
		}
		// go-smtp then gives up on the connection.
		if got := c.read(); got != "500 5.4.0 Too long line, closing connection" {
			t.Errorf("got %q", got)
		}
		c.wantClosed()
		e.wantNoMail()
	})
	t.Run("command", func(t *testing.T) {
		c := dialRaw(t, r.addr, nil)
		c.cmd("EHLO client.example")
		c.expect("MAIL FROM:<"+strings.Repeat("a", 300)+"@remote.example>", "500 5.4.0 Too long line, closing connection")
		c.wantClosed()
	})
}

func TestSequenceErrors(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.expect("MAIL FROM:<sender@remote.example>", "502 5.5.1 Please introduce yourself first.")
	c.cmd("EHLO client.example")
	c.expect("RCPT TO:<alice@example.org>", "502 5.5.1 Missing MAIL FROM command.")
	c.expectPrefix("MAIL FROM:<sender@remote.example>", "250 ")
	// RFC 5321 §4.1.4: a second MAIL needs RSET first.
	c.expect("MAIL FROM:<other@remote.example>", "503 5.5.1 Sender already specified")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	c.expect("RSET", "250 2.0.0 Session reset")
	c.expect("DATA", "502 5.5.1 Missing RCPT TO command.")
	c.expectPrefix("MAIL FROM:<other@remote.example>", "250 ")
	e.wantNoMail()
}

func TestSenderChecks(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expect("MAIL FROM:<ålice@remote.example>", "550 5.6.7 Non-ASCII sender address without SMTPUTF8")

	// A quoted local part keeps its quotes in Return-Path.
	c.expectPrefix(`MAIL FROM:<"john doe"@remote.example>`, "250 ")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send("Subject: q\r\n\r\nq\r\n.")
	id := queueID(t, strings.TrimPrefix(c.read(), "250 "))
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	wantTrace(t, got[0].data, `<"john doe"@remote.example>`, fromClient, "ESMTP", id, "alice@example.org")

	// SMTPUTF8 (RFC 6531): UTF-8 sender accepted, UTF8SMTP in Received.
	c.expectPrefix("MAIL FROM:<ålice@rémote.example> SMTPUTF8", "250 ")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send("Subject: u\r\n\r\nu\r\n.")
	id = queueID(t, strings.TrimPrefix(c.read(), "250 "))
	got = e.inbox("alice@example.org")
	if len(got) != 2 {
		t.Fatalf("alice has %d messages", len(got))
	}
	wantTrace(t, got[1].data, "<ålice@rémote.example>", fromClient, "UTF8SMTP", id, "alice@example.org")
}

func TestHeloIsSanitised(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.Resolver = fakeResolver{} // no reverse DNS name
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO evil(x);\\by\x01")
	c.expectPrefix("MAIL FROM:<sender@remote.example>", "250 ")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send("Subject: h\r\n\r\nh\r\n.")
	id := queueID(t, strings.TrimPrefix(c.read(), "250 "))
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	wantTrace(t, got[0].data, "<sender@remote.example>", "evil?x???by? ([127.0.0.1])", "ESMTP", id, "alice@example.org")
}

func TestReverseDNSMustConfirm(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	// The PTR name resolves elsewhere: not used.
	opts.Resolver = fakeResolver{
		ptr:  map[string][]string{"127.0.0.1": {"liar.example."}},
		host: map[string][]string{"liar.example.": {"192.0.2.1"}},
	}
	r := e.start(opts, false)
	c := dial(t, r.addr)
	id := send(t, c, "sender@remote.example", []string{"alice@example.org"}, "Subject: r\r\n\r\nr\r\n")
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	wantTrace(t, got[0].data, "<sender@remote.example>", "client.example ([127.0.0.1])", "ESMTP", id, "alice@example.org")
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.ReadTimeout = 100 * time.Millisecond
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	// RFC 5321 §4.5.3.2.7: the server closes an idle connection.
	if got := c.read(); got != "421 4.4.2 Idle timeout, bye bye" {
		t.Errorf("got %q", got)
	}
	c.wantClosed()
}

// The read deadline moves with the data: a message that arrives slowly
// but steadily is not cut off by the deadline set at the DATA command.
func TestSlowDataWithinTimeout(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.ReadTimeout = 400 * time.Millisecond
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	openData(t, c, "alice@example.org")
	c.send("Subject: slow")
	c.send("")
	// 8 steps of 1.2 KiB, 100ms apart: twice the timeout in total, with
	// more than a KiB (see dataReader) in every 100ms.
	for i := 0; i < 8; i++ {
		time.Sleep(100 * time.Millisecond)
		c.send(strings.Repeat("s", 600))
		c.send(strings.Repeat("t", 600))
	}
	c.send(".")
	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Errorf("got %q", got)
	}
}

func TestMaxConnections(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.MaxConnections = 1
	r := e.start(opts, false)
	first := dialRaw(t, r.addr, nil)
	first.cmd("EHLO client.example")

	nc, err := dialPlain(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	busy := &raw{t: t, nc: nc, tp: newText(nc)}
	if got := busy.read(); got != "421 4.7.0 mx.example.org Too many connections, try again later" {
		t.Errorf("got %q", got)
	}
	busy.wantClosed()
	e.wantLog("too many connections", "max=1")

	first.expect("QUIT", "221 2.0.0 Bye")
	// The slot frees when the first connection's handler has returned.
	waitFor(t, "the slot to free", func() bool {
		r.srv.mu.Lock()
		defer r.srv.mu.Unlock()
		return len(r.srv.conns) == 0
	})
	again := dialRaw(t, r.addr, nil)
	again.expectPrefix("EHLO client.example", "250 ")
}

func TestMaxConnectionsPerIP(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.MaxConnectionsPerIP = 2
	r := e.start(opts, false)
	dialRaw(t, r.addr, nil)
	dialRaw(t, r.addr, nil)
	nc, err := dialPlain(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	third := &raw{t: t, nc: nc, tp: newText(nc)}
	if got := third.read(); got != "421 4.7.0 mx.example.org Too many connections from your address, try again later" {
		t.Errorf("got %q", got)
	}
	third.wantClosed()
	e.wantLog("too many connections from one address", "ip=127.0.0.1", "max=2")
}
