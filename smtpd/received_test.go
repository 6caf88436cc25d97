package smtpd

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestTraceString(t *testing.T) {
	date := time.Date(2026, 12, 3, 9, 5, 7, 0, time.FixedZone("", -5*3600))
	tr := trace{
		returnPath: "<sender@remote.example>",
		helo:       "client.example",
		remoteName: "mail.remote.example",
		ip:         netip.MustParseAddr("192.0.2.7"),
		hostname:   "mx.example.org",
		proto:      "ESMTPS",
		id:         "ABCDEFGHIJKLMNOP",
		forRcpt:    "alice@example.org",
		date:       date,
	}
	want := "Return-Path: <sender@remote.example>\r\n" +
		"Received: from client.example (mail.remote.example [192.0.2.7])\r\n" +
		"\tby mx.example.org with ESMTPS id ABCDEFGHIJKLMNOP\r\n" +
		"\tfor <alice@example.org>; Thu, 03 Dec 2026 09:05:07 -0500\r\n"
	if got := tr.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	tr.remoteName, tr.forRcpt = "", ""
	tr.ip = netip.MustParseAddr("2001:db8::25")
	want = "Return-Path: <sender@remote.example>\r\n" +
		"Received: from client.example ([IPv6:2001:db8::25])\r\n" +
		"\tby mx.example.org with ESMTPS id ABCDEFGHIJKLMNOP; Thu, 03 Dec 2026 09:05:07 -0500\r\n"
	if got := tr.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWithProtocol(t *testing.T) {
	for _, tc := range []struct {
		utf8, tls, auth bool
		want            string
	}{
		{false, false, false, "ESMTP"},
		{false, true, false, "ESMTPS"},
		{false, false, true, "ESMTPA"},
		{false, true, true, "ESMTPSA"},
		{true, false, false, "UTF8SMTP"},
		{true, true, true, "UTF8SMTPSA"},
	} {
		if got := withProtocol(tc.utf8, tc.tls, tc.auth); got != tc.want {
			t.Errorf("withProtocol(%v, %v, %v) = %s, want %s", tc.utf8, tc.tls, tc.auth, got, tc.want)
		}
	}
}

// Whatever the client says in EHLO, the header stays two well-formed
// fields.
func FuzzTraceHelo(f *testing.F) {
	for _, s := range []string{"client.example", "[192.0.2.1]", "a(b)c;d\\e", "\r\nX-Injected: 1", "ü", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, helo string) {
		tr := trace{returnPath: "<>", helo: helo, ip: netip.MustParseAddr("192.0.2.1"),
			hostname: "mx.example.org", proto: "ESMTP", id: "ID", date: time.Unix(0, 0).UTC()}
		s := tr.String()
		if !strings.HasSuffix(s, "\r\n") {
			t.Fatalf("not CRLF-terminated: %q", s)
		}
		lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "Return-Path: ") ||
			!strings.HasPrefix(lines[1], "Received: from ") || !strings.HasPrefix(lines[2], "\tby ") {
			t.Fatalf("malformed trace fields: %q", s)
		}
		from := strings.TrimPrefix(lines[1], "Received: from ")
		name, rest, _ := strings.Cut(from, " ")
		if rest != "([192.0.2.1])" || strings.ContainsAny(name, "()\\; \t\r\n") || name == "" || len(name) > 255 {
			t.Fatalf("HELO %q gave %q", helo, lines[1])
		}
		for _, c := range []byte(s) {
			if c >= 0x7f || (c < 0x20 && c != '\r' && c != '\n' && c != '\t') {
				t.Fatalf("byte %#x in %q", c, s)
			}
		}
	})
}
