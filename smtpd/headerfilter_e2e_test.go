package smtpd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Inbound: a Return-Path the sender wrote is not stored; ours heads the
// message, alone.
func TestInboundDropsClientReturnPath(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Inbound), false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expectPrefix("MAIL FROM:<real@remote.example>", "250 ")
	c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
	c.expectPrefix("DATA", "354 ")
	c.send("Return-Path: <forged@evil.example>\r\nSubject: hi\r\nreturn-path : <again@evil.example>\r\nX-A: a\rReturn-Path: <behind-a-cr@evil.example>\r\n\r\nReturn-Path: <in the body>\r\n.")
	if got := c.read(); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("reply %q", got)
	}
	in := e.inbox("alice@example.org")
	if len(in) != 1 {
		t.Fatalf("alice has %d messages", len(in))
	}
	h := headerOf(in[0].data)
	if n := fieldCount(h, "Return-Path"); n != 1 || !strings.HasPrefix(in[0].data, "Return-Path: <real@remote.example>\r\n") {
		t.Errorf("%d Return-Path fields, want ours alone first:\n%s", n, in[0].data)
	}
	if strings.Contains(in[0].data, "evil.example") || !strings.HasSuffix(in[0].data, "\r\nSubject: hi\r\nX-A: a\r\n\r\nReturn-Path: <in the body>\r\n") {
		t.Errorf("stored:\n%s", in[0].data)
	}
	e.wantLog("header fields removed", "fields=Return-Path,return-path,Return-Path")
}

// Submission: Bcc reaches no copy (RFC 5322 §3.6.3), the blind recipient
// still gets the message, and a client's Return-Path is dropped too.
func TestSubmissionDropsBcc(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	qdir := e.withQueue(&opts)
	r := e.start(opts, false)
	c := authed(t, e, r.addr)

	msg := "From: alice@example.org\r\nTo: bob@example.org\r\nBcc: alice@example.org,\r\n friend@elsewhere.example\r\nReturn-Path: <x@evil.example>\r\nSubject: s\r\n\r\nhello\r\n"
	got := sendData(t, c, "alice@example.org", []string{"bob@example.org", "alice@example.org", "friend@elsewhere.example"}, msg)
	if !strings.HasPrefix(got, "250 ") {
		t.Fatalf("reply %q", got)
	}
	id := queueID(t, strings.TrimPrefix(got, "250 "))
	const rest = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nhello\r\n"
	for _, u := range []string{"bob@example.org", "alice@example.org"} {
		in := e.inbox(u)
		if len(in) != 1 {
			t.Fatalf("%s has %d messages", u, len(in))
		}
		h := headerOf(in[0].data)
		if fieldCount(h, "Bcc") != 0 || fieldCount(h, "Return-Path") != 1 || !strings.HasSuffix(in[0].data, "\r\n"+rest) {
			t.Errorf("%s's copy:\n%s", u, in[0].data)
		}
	}
	data, err := os.ReadFile(filepath.Join(qdir, "mail", id+".msg"))
	if err != nil {
		t.Fatal(err)
	}
	if h := headerOf(string(data)); fieldCount(h, "Bcc") != 0 || fieldCount(h, "Return-Path") != 0 || !strings.HasSuffix(string(data), "\r\n"+rest) {
		t.Errorf("queued copy:\n%s", data)
	}
	e.wantLog("header fields removed", "fields=Bcc,Return-Path")
}

// Submission makes a bare CR a line end in every copy, so that no next hop
// can read "\r.\r" as the end of the message.
func TestSubmissionBareCR(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	qdir := e.withQueue(&opts)
	r := e.start(opts, false)
	c := authed(t, e, r.addr)
	msg := "From: alice@example.org\r\nSubject: s\r\n\r\nlast\r.\rMAIL FROM:<x@evil.example>\r\n"
	got := sendData(t, c, "alice@example.org", []string{"bob@example.org", "friend@elsewhere.example"}, msg)
	if !strings.HasPrefix(got, "250 ") {
		t.Fatalf("reply %q", got)
	}
	id := queueID(t, strings.TrimPrefix(got, "250 "))
	const body = "\r\n\r\nlast\r\n.\r\nMAIL FROM:<x@evil.example>\r\n"
	if in := e.inbox("bob@example.org"); len(in) != 1 || !strings.HasSuffix(in[0].data, body) {
		t.Errorf("bob's copy: %+v", in)
	}
	data, err := os.ReadFile(filepath.Join(qdir, "mail", id+".msg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), body) || strings.Contains(strings.ReplaceAll(string(data), "\r\n", ""), "\r") {
		t.Errorf("queued copy: %q", data)
	}
	e.wantLog("bare CR made a line end", "count=2")
}
