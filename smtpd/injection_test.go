package smtpd

import (
	"crypto/tls"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// RFC 3207 §4.2: the server discards any knowledge obtained from the
// client before the handshake, and commands the client pipelined in the
// clear after STARTTLS must never run over TLS (the STARTTLS command
// injection class, CVE-2011-0411 and relatives).
func TestStartTLSDiscardsPipelinedInput(t *testing.T) {
	for _, mode := range []Mode{Inbound, Submission} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			r := e.start(e.options(mode), false)
			c := dialRaw(t, r.addr, nil)
			c.cmd("EHLO client.example")
			// One write: STARTTLS and an injected envelope.
			if _, err := c.nc.Write([]byte("STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<alice@example.org>\r\n")); err != nil {
				t.Fatal(err)
			}
			if got := c.read(); got != "220 2.0.0 Ready to start TLS" {
				t.Fatalf("STARTTLS: %q", got)
			}
			// The handshake must be what follows on the wire; if the server
			// answered the injected lines in the clear it would fail here.
			c.tlsUpgrade(e.clientTLS)
			// EHLO after TLS (RFC 3207 §4.2): if the injected MAIL had run,
			// the answer to this RCPT would be 250, not a sequence error.
			c.expectPrefix("EHLO client.example", "250")
			if got := c.cmd("RCPT TO:<alice@example.org>"); !strings.HasPrefix(got, "502 5.5.1") && !strings.HasPrefix(got, "503 5.5.1") {
				t.Errorf("RCPT without MAIL after STARTTLS: %q, want 502/503 5.5.1", got)
			}
			if got := c.cmd("DATA"); !strings.HasPrefix(got, "502 5.5.1") && !strings.HasPrefix(got, "503 5.5.1") {
				t.Errorf("DATA after STARTTLS: %q, want 502/503 5.5.1", got)
			}
			c.expect("QUIT", "221 2.0.0 Bye")
			e.wantNoMail()
			if strings.Contains(e.logs.String(), "evil@x.example") {
				t.Errorf("the injected MAIL reached the log:\n%s", e.logs.String())
			}
		})
	}
}

// tlsUpgrade does the client side of the handshake after a 220 to
// STARTTLS that the test read itself.
func (r *raw) tlsUpgrade(conf *tls.Config) {
	r.t.Helper()
	tc := tls.Client(r.nc, conf)
	tc.SetDeadline(time.Now().Add(testTimeout))
	if err := tc.Handshake(); err != nil {
		r.t.Fatalf("TLS handshake after STARTTLS: %v", err)
	}
	r.nc = tc
	r.tp = textproto.NewConn(tc)
}

// The SMTP smuggling class (CVE-2023-51764, CVE-2023-51765,
// CVE-2023-51766): RFC 5321 §4.1.1.4 ends the data only at
// <CRLF>.<CRLF>; every other line-ending variant around a dot is message
// text, so a second envelope hidden behind it is never a second message.
func TestSmugglingFakeEndOfData(t *testing.T) {
	fakes := []struct{ name, seq string }{
		{"LF.LF", "\n.\n"},
		{"CR.CR", "\r.\r"},
		{"LF.CRLF", "\n.\r\n"},
		{"CRLF.LF", "\r\n.\n"},
		{"CRLF.CR", "\r\n.\r"},
		{"CR.CRLF", "\r.\r\n"},
	}
	for _, f := range fakes {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.start(e.options(Inbound), false)
			c := dialRaw(t, r.addr, nil)
			openData(t, c, "alice@example.org")
			smuggled := "MAIL FROM:<evil@x.example>\r\n" +
				"RCPT TO:<alice@example.org>\r\n" +
				"DATA\r\n" +
				"Subject: smuggled\r\n\r\nsmuggled body\r\n"
			msg := "Subject: real\r\n\r\nreal body" + f.seq + smuggled + ".\r\n"
			if _, err := c.nc.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			// Exactly one reply to the whole write: the end of one message.
			got := c.read()
			if !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
				t.Fatalf("end of data: %q, want 250 queued", got)
			}
			c.expect("NOOP", "250 2.0.0 I have successfully done nothing")
			in := e.inbox("alice@example.org")
			if len(in) != 1 {
				t.Fatalf("%d messages stored, want exactly 1", len(in))
			}
			body := in[0].data
			if !strings.Contains(body, "Subject: real") || !strings.Contains(body, "real body") {
				t.Errorf("stored message lost the real text:\n%q", body)
			}
			for _, part := range []string{"MAIL FROM:<evil@x.example>", "RCPT TO:<alice@example.org>", "smuggled body"} {
				if !strings.Contains(body, part) {
					t.Errorf("smuggled text %q is not in the stored body:\n%q", part, body)
				}
			}
			if n := strings.Count(e.logs.String(), "evil@x.example"); n != 0 {
				t.Errorf("the smuggled envelope was logged %d times (it ran as a command)", n)
			}
			if files := e.mailFiles(); len(files) != 1 {
				t.Errorf("files on disk %q, want exactly one", files)
			}
		})
	}
}

// A client that sends one octet at a time, each well within ReadTimeout,
// but never ends its command line, is cut. The bound is not ReadTimeout:
// go-smtp sets the read deadline once per command line, and when it passes
// with part of a line read, bufio.Reader.ReadLine hands that part over as a
// whole line and drops the time-out, so go-smtp answers it as a command
// ("501 5.5.2 Bad command") and waits afresh. Its limit of three errors
// then closes the connection after the fourth: about 4 x ReadTimeout for
// octets that are not commands (20 minutes at the 5-minute default). The
// assertion is loose (8 s at ReadTimeout 300 ms).
func TestSlowDripCommandLineDropped(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.ReadTimeout = 300 * time.Millisecond
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	c.nc.SetDeadline(time.Now().Add(testTimeout))
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := c.nc.Read(buf); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	// 100 ms between octets: a third of the timeout, for up to 8 s.
	line := strings.Repeat("X", 80)
drip:
	for i := 0; ; i++ {
		select {
		case d := <-closed:
			t.Logf("dropped after %v of drip (ReadTimeout %v)", d, opts.ReadTimeout)
			break drip
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 8*time.Second {
			t.Fatalf("a slow-drip client is still connected after %v with ReadTimeout %v", time.Since(start), opts.ReadTimeout)
		}
		if _, err := c.nc.Write([]byte{line[i%len(line)]}); err != nil {
			// The server closed: the reader goroutine reports it.
			continue
		}
	}
}
