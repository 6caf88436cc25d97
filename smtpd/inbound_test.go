package smtpd

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

const fromClient = "client.example (client.example [127.0.0.1])"

func TestInboundDeliversExactBytes(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dial(t, r.addr)

	// Lines starting with "." are dot-stuffed by the client and must be
	// unstuffed; "." alone inside the text too.
	msg := "From: sender@remote.example\r\n" +
		"To: alice@example.org\r\n" +
		"Subject: dots\r\n" +
		"\r\n" +
		".leading dot\r\n" +
		"..two dots\r\n" +
		".\r\n" +
		"end\r\n"
	id := send(t, c, "sender@remote.example", []string{"alice@example.org"}, msg)

	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages, want 1", len(got))
	}
	body := wantTrace(t, got[0].data, "<sender@remote.example>", fromClient, "ESMTP", id, "alice@example.org")
	if body != msg {
		t.Errorf("stored body\n%q\nwant\n%q", body, msg)
	}
	if n := len(e.inbox("bob@example.org")); n != 0 {
		t.Errorf("bob has %d messages, want 0", n)
	}
	e.wantLog(`msg=delivered`, "id="+id, "from=sender@remote.example", "rcpts=1", "users=1",
		"size="+strconv.Itoa(len(msg)), "tls=false", "remote=127.0.0.1:")
}

func TestInboundEightBitAndNUL(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dial(t, r.addr)
	// 8BITMIME (RFC 6152) body in UTF-8, a NUL, a stray byte that is not
	// UTF-8: all stored as they came.
	msg := "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" +
		"Grüße aus Köln — 日本語 ✓\r\n" +
		"nul:\x00:here\r\n" +
		"latin1:\xe9\r\n"
	if err := c.Mail("sender@remote.example", &smtp.MailOptions{Body: smtp.Body8BitMIME}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(msg))
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	id := queueID(t, resp.StatusText)
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	if body := wantTrace(t, got[0].data, "<sender@remote.example>", fromClient, "ESMTP", id, "alice@example.org"); body != msg {
		t.Errorf("stored body\n%q\nwant\n%q", body, msg)
	}
}

func TestInboundLargeAttachment(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dial(t, r.addr)

	payload := make([]byte, 5<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i/251)
	}
	var b strings.Builder
	b.WriteString("Subject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n" +
		"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(payload)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--XX--\r\n")
	msg := b.String()

	id := send(t, c, "sender@remote.example", []string{"alice@example.org"}, msg)
	got := e.inbox("alice@example.org")
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	body := wantTrace(t, got[0].data, "<sender@remote.example>", fromClient, "ESMTP", id, "alice@example.org")
	if body != msg {
		t.Errorf("stored body differs: %d octets, want %d", len(body), len(msg))
	}
}

func TestInboundAliasSubaddressAndDuplicates(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)

	t.Run("alias with two targets", func(t *testing.T) {
		c := dial(t, r.addr)
		id := send(t, c, "sender@remote.example", []string{"team@example.org"}, "Subject: team\r\n\r\nhi\r\n")
		for _, u := range []string{"alice@example.org", "bob@example.org"} {
			got := e.inbox(u)
			if len(got) != 1 {
				t.Fatalf("%s has %d messages, want 1", u, len(got))
			}
			// "for" names the address the sender used.
			if body := wantTrace(t, got[0].data, "<sender@remote.example>", fromClient, "ESMTP", id, "team@example.org"); body != "Subject: team\r\n\r\nhi\r\n" {
				t.Errorf("%s: body %q", u, body)
			}
		}
	})

	t.Run("subaddress", func(t *testing.T) {
		c := dial(t, r.addr)
		before := len(e.inbox("bob@example.org"))
		id := send(t, c, "sender@remote.example", []string{"bob+lists@example.org"}, "Subject: tag\r\n\r\nx\r\n")
		got := e.inbox("bob@example.org")
		if len(got) != before+1 {
			t.Fatalf("bob has %d messages, want %d", len(got), before+1)
		}
		wantTrace(t, got[len(got)-1].data, "<sender@remote.example>", fromClient, "ESMTP", id, "bob+lists@example.org")
	})

	t.Run("same user reached four ways gets one copy", func(t *testing.T) {
		c := dial(t, r.addr)
		aliceBefore := len(e.inbox("alice@example.org"))
		bobBefore := len(e.inbox("bob@example.org"))
		rcpts := []string{"alice@example.org", "ALICE+x@Example.ORG", "boss@example.org", "team@example.org"}
		id := send(t, c, "sender@remote.example", rcpts, "Subject: dup\r\n\r\nonce\r\n")
		got := e.inbox("alice@example.org")
		if len(got) != aliceBefore+1 {
			t.Fatalf("alice has %d messages, want %d", len(got), aliceBefore+1)
		}
		// Several recipients: no "for" clause.
		wantTrace(t, got[len(got)-1].data, "<sender@remote.example>", fromClient, "ESMTP", id, "")
		if n := len(e.inbox("bob@example.org")); n != bobBefore+1 {
			t.Errorf("bob has %d messages, want %d", n, bobBefore+1)
		}
		e.wantLog("msg=delivered", "id="+id, "rcpts=4", "users=2")
	})

	t.Run("postmaster without domain", func(t *testing.T) {
		c := dial(t, r.addr)
		before := len(e.inbox("alice@example.org"))
		send(t, c, "", []string{"postmaster"}, "Subject: pm\r\n\r\nx\r\n")
		got := e.inbox("alice@example.org")
		if len(got) != before+1 {
			t.Fatalf("alice has %d messages, want %d", len(got), before+1)
		}
		if !strings.HasPrefix(got[len(got)-1].data, "Return-Path: <>\r\n") {
			t.Errorf("null sender: message starts %q", firstLines(got[len(got)-1].data, 1))
		}
	})
}

func TestInboundUnknownRecipient(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dial(t, r.addr)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.Rcpt("nobody@example.org", nil), "550 5.1.1 No such user here")
	wantErr(t, c.Rcpt("nobody+tag@EXAMPLE.net", nil), "550 5.1.1 No such user here")
	// Nothing accepted, so DATA is refused (go-smtp's text).
	_, err := c.Data()
	wantErr(t, err, "502 5.5.1 Missing RCPT TO command.")
	e.wantNoMail()
	e.wantLog("msg=\"recipient rejected\"", "rcpt=nobody@example.org", "code=550", "from=sender@remote.example")
}

func TestInboundRefusesRelay(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dial(t, r.addr)
	if err := c.Mail("sender@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"victim@elsewhere.example", "alice@example.org.evil.example", "alice@sub.example.org"} {
		wantErr(t, c.Rcpt(rcpt, nil), "554 5.7.1 Relay access denied")
	}
	// A valid local recipient in the same transaction still works and
	// the message goes to it only.
	if err := c.Rcpt("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	w.Write([]byte("Subject: x\r\n\r\nx\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(e.mailFiles()); n != 1 {
		t.Errorf("%d files on disk, want 1 (alice's)", n)
	}
	e.wantLog("msg=\"recipient rejected\"", "rcpt=victim@elsewhere.example", "code=554")

	// Over STARTTLS it is no different.
	c2 := dialStartTLS(t, r.addr, e.clientTLS)
	c2.Mail("sender@remote.example", nil)
	wantErr(t, c2.Rcpt("victim@elsewhere.example", nil), "554 5.7.1 Relay access denied")
}

// Relaying through address tricks is refused at RCPT (raw dialogue: the
// exact bytes a spammer would send).
func TestInboundAddressTricks(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.expectPrefix("EHLO client.example", "250 ")
	c.expect("MAIL FROM:<sender@remote.example>", "250 2.0.0 Roger, accepting mail from <sender@remote.example>")
	const (
		routed  = "553 5.1.3 Routed addresses ('%', '!', '@') are not accepted"
		literal = "553 5.1.3 Address literals are not accepted as recipients"
		quoted  = "553 5.1.3 Quoted local parts are not accepted"
		syntax  = "501 5.1.3 Bad recipient address syntax"
		relay   = "554 5.7.1 Relay access denied"
	)
	for _, tc := range []struct{ rcpt, want string }{
		{"<victim%elsewhere.example@example.org>", routed},
		{"<elsewhere.example!victim@example.org>", routed},
		{"<victim@elsewhere.example@example.org>", routed},
		{`<"victim@elsewhere.example"@example.org>`, routed},
		{`<"victim%elsewhere.example"@example.org>`, routed},
		{`<"alice bob"@example.org>`, quoted},
		{`<"al\"ice"@example.org>`, quoted},
		{"<alice@[127.0.0.1]>", literal},
		{"<alice@[IPv6:::1]>", literal},
		{"<alice..x@example.org>", syntax},
		{"<.alice@example.org>", syntax},
		{"<alice@example.org.>", syntax},
		{"<alice@-example.org>", syntax},
		{"<alice@exa_mple.org>", syntax},
		{"<" + strings.Repeat("a", 65) + "@example.org>", "501 5.1.3 Address too long"},
		{"<ålice@example.org>", "553 5.6.7 Non-ASCII address without SMTPUTF8"},
		// A source route is dropped by go-smtp before we see it (RFC 5321
		// §3.6.1: the server may ignore it and use the final address); the
		// final address then meets the relay check like any other.
		{"<@example.org:victim@elsewhere.example>", relay},
		{"<@example.org,@example.net:victim@elsewhere.example>", relay},
	} {
		c.expect("RCPT TO:"+tc.rcpt, tc.want)
	}
	// go-smtp's own syntax check, before ours.
	c.expect("RCPT TO:<alice@example.org", "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>")
	c.expect("DATA", "502 5.5.1 Missing RCPT TO command.")
	e.wantNoMail()
	e.wantLog("msg=\"recipient rejected\"", "rcpt=alice@[127.0.0.1]", "code=553")
}

// What the library's normalisation means for local mail: a source route in
// front of a local address is ignored, and a quoted local part that needs no
// quotes is the same mailbox as the unquoted one (RFC 5321 §4.1.2).
func TestInboundRouteAndQuotesToLocalUser(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.expectPrefix("EHLO client.example", "250 ")
	c.expect("MAIL FROM:<sender@remote.example>", "250 2.0.0 Roger, accepting mail from <sender@remote.example>")
	c.expect("RCPT TO:<@relay.example:alice@example.org>", "250 2.0.0 I'll make sure <alice@example.org> gets this")
	c.expect(`RCPT TO:<"bob"@example.org>`, "250 2.0.0 I'll make sure <bob@example.org> gets this")
	c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
	c.send("Subject: x\r\n\r\nx\r\n.")
	c.expectPrefix("QUIT", "250 2.0.0 OK: queued as ")
	if len(e.inbox("alice@example.org")) != 1 || len(e.inbox("bob@example.org")) != 1 {
		t.Error("alice and bob should have one message each")
	}
}

func TestInboundNoAuth(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.AllowPlaintext = true // must not matter on inbound
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	ehlo := c.cmd("EHLO client.example")
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("inbound EHLO advertises AUTH:\n%s", ehlo)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00" + alicePass))
	c.expect("AUTH PLAIN "+plain, "502 5.5.1 AUTH is not available on this port")
	c.startTLS(e.clientTLS)
	if ehlo := c.cmd("EHLO client.example"); strings.Contains(ehlo, "AUTH") {
		t.Errorf("inbound EHLO after STARTTLS advertises AUTH:\n%s", ehlo)
	}
	c.expect("AUTH LOGIN", "502 5.5.1 AUTH is not available on this port")
}

func TestEHLOExtensions(t *testing.T) {
	e := newEnv(t)
	in := e.start(e.options(Inbound), false)
	sub := e.start(e.options(Submission), false)
	subTLS := e.start(e.options(Submission), true)

	base := "250 Hello client.example\nPIPELINING\n8BITMIME\nENHANCEDSTATUSCODES\nCHUNKING\n"
	for _, tc := range []struct {
		name string
		addr string
		tls  bool
		want string
	}{
		{"inbound", in.addr, false, base + "STARTTLS\nSMTPUTF8\nSIZE 33554432"},
		{"submission before TLS", sub.addr, false, base + "STARTTLS\nSMTPUTF8\nSIZE 33554432"},
		{"submission implicit TLS", subTLS.addr, true, base + "AUTH PLAIN LOGIN\nSMTPUTF8\nSIZE 33554432"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var conf = e.clientTLS
			if !tc.tls {
				conf = nil
			}
			c := dialRaw(t, tc.addr, conf)
			c.expect("EHLO client.example", tc.want)
		})
	}
	t.Run("submission after STARTTLS", func(t *testing.T) {
		c := dialRaw(t, sub.addr, nil)
		c.cmd("EHLO client.example")
		c.startTLS(e.clientTLS)
		c.expect("EHLO client.example", base+"AUTH PLAIN LOGIN\nSMTPUTF8\nSIZE 33554432")
	})
}

func TestVRFYAndEXPNDisabled(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.expectPrefix("EHLO client.example", "250 ")
	// RFC 5321 §3.5.3 / §7.3: no user enumeration. go-smtp answers
	// these itself, the same for users that exist and those that do not.
	c.expect("VRFY alice@example.org", "252 2.5.0 Cannot VRFY user, but will accept message")
	c.expect("VRFY nobody@example.org", "252 2.5.0 Cannot VRFY user, but will accept message")
	c.expect("EXPN team@example.org", "502 5.5.1 EXPN command not implemented")
}
