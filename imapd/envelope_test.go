package imapd

import (
	"slices"
	"testing"
)

// ENVELOPE carries the header as it is (RFC 9051 §7.5.2): encoded-words
// in several charsets exactly as written (unfolded, RFC 5322 §2.2.3),
// display names without RFC 5322 quoting but not decoded, groups in the
// group form (RFC 9051 §9 addr-host/addr-mailbox), and the first of
// repeated fields.
func TestEnvelopeRawHeaderText(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(
		"From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <j@example.net>\r\n"+
			"To: alice@example.org, \"Bob, Jr.\" <bob@example.org>\r\n"+
			"Cc: undisclosed-recipients:;\r\n"+
			"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n =?ISO-8859-1?Q?_caf=E9?=\r\n"+
			"Date: Thu, 03 Dec 2026 11:00:00 +0100\r\n"+
			"Message-ID: <m2@example.net>\r\n\r\nx\r\n",
		"From: carol@example.net (Carol Old-Style)\r\n"+
			"Subject: first\r\n"+
			"To: friends: a@example.com, \"C D\" <c@example.com>;, <postmaster>,\r\n\t(nobody) <@route.example:e@example.com>\r\n"+
			"Subject: second\r\n"+
			"Reply-To: \r\n"+
			"In-Reply-To: <a@example.net> <b@example.net>\r\n\r\nx\r\n",
	)
	r := e.rawLogin()
	r.ok("s", "EXAMINE INBOX")
	u := r.ok("a", "FETCH 1:2 (ENVELOPE)")
	want := []string{
		`* 1 FETCH (ENVELOPE ("Thu, 03 Dec 2026 11:00:00 +0100" ` +
			`"=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?= =?ISO-8859-1?Q?_caf=E9?=" ` +
			`(("=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?=" NIL "j" "example.net")) ` +
			`(("=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?=" NIL "j" "example.net")) ` +
			`(("=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?=" NIL "j" "example.net")) ` +
			`((NIL NIL "alice" "example.org") ("Bob, Jr." NIL "bob" "example.org")) ` +
			`((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) ` +
			`NIL NIL "<m2@example.net>"))`,
		`* 2 FETCH (ENVELOPE (NIL "first" ` +
			`(("Carol Old-Style" NIL "carol" "example.net")) ` +
			`(("Carol Old-Style" NIL "carol" "example.net")) ` +
			`(("Carol Old-Style" NIL "carol" "example.net")) ` +
			`((NIL NIL "friends" NIL) (NIL NIL "a" "example.com") ("C D" NIL "c" "example.com") (NIL NIL NIL NIL) ` +
			`(NIL NIL "postmaster" "MISSING_DOMAIN") (NIL NIL "e" "example.com")) ` +
			`NIL NIL "<a@example.net> <b@example.net>" NIL))`,
	}
	if !slices.Equal(u, want) {
		t.Errorf("ENVELOPE:\n got %q\nwant %q", u, want)
	}
}

// Raw 8-bit header text goes as it is only to a client that enabled
// UTF8=ACCEPT (RFC 9755); any other client gets encoded-words (RFC 2047)
// and, for an address whose local part is not ASCII, an empty group named
// by the encoded address. Octets that are not UTF-8 are labelled
// unknown-8bit (RFC 1428). No 8-bit octet reaches the client that did not
// ask for UTF-8.
func TestEnvelope8bitHeaders(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver("From: J\xc3\xbcrgen <j\xc3\xbcrgen@example.net>\r\n" +
		"To: \"Z\xc3\xb6e\" <zoe@example.org>\r\n" +
		"Subject: 8bit h\xc3\xa9ader \xff raw\r\n" +
		"Message-ID: <caf\xc3\xa9@example.net>\r\n\r\nx\r\n")
	r := e.rawLogin()
	r.ok("s", "EXAMINE INBOX")
	from := `((NIL NIL "=?utf-8?b?SsO8cmdlbiA8asO8cmdlbkBleGFtcGxlLm5ldD4=?=" NIL) (NIL NIL NIL NIL))`
	want := `* 1 FETCH (ENVELOPE (NIL "=?unknown-8bit?q?8bit_h=C3=A9ader_=FF_raw?=" ` + from + " " + from + " " + from + " " +
		`(("=?utf-8?b?WsO2ZQ==?=" NIL "zoe" "example.org")) NIL NIL NIL NIL))`
	u := r.ok("a", "FETCH 1 (ENVELOPE)")
	if len(u) != 1 || u[0] != want {
		t.Errorf("ENVELOPE for a client without UTF-8:\n got %q\nwant %q", u, want)
	}
	if len(u) != 1 || has8bit(u[0]) {
		t.Errorf("8-bit octet sent to a client without UTF8=ACCEPT: %q", u)
	}
	r.ok("b", "ENABLE UTF8=ACCEPT")
	// The local part and the message ID go as UTF-8 now. The library
	// Q-encodes subject and display names whatever the client enabled.
	from = `(("=?utf-8?q?J=C3=BCrgen?=" NIL "jürgen" "example.net"))`
	want = `* 1 FETCH (ENVELOPE (NIL "=?unknown-8bit?q?8bit_h=C3=A9ader_=FF_raw?=" ` + from + " " + from + " " + from + " " +
		`(("=?utf-8?q?Z=C3=B6e?=" NIL "zoe" "example.org")) NIL NIL NIL "<café@example.net>"))`
	if u := r.ok("c", "FETCH 1 (ENVELOPE)"); len(u) != 1 || u[0] != want {
		t.Errorf("ENVELOPE for a UTF8=ACCEPT client:\n got %q\nwant %q", u, want)
	}
}

// BODYSTRUCTURE parameters that RFC 2231 decoding (or raw 8-bit header
// text) made non-ASCII go to a client without UTF-8 in RFC 2231 extended
// notation; free text as encoded-words; the envelope of an attached
// message as ENVELOPE does. A UTF8=ACCEPT client gets the UTF-8.
func TestBodyStructure8bitParams(t *testing.T) {
	e := newEnv(t, nil)
	inner := "From: \xc3\xbc@example.net\r\nSubject: inner\r\n\r\nhi\r\n"
	e.deliver("Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: application/pdf; name=\"caf\xc3\xa9.pdf\"\r\n" +
		"Content-Description: r\xc3\xa9sum\xc3\xa9\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf\r\n\r\nAAAA\r\n" +
		"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "--b--\r\n")
	r := e.rawLogin()
	r.ok("s", "EXAMINE INBOX")
	innerFrom := `((NIL NIL "=?utf-8?b?w7xAZXhhbXBsZS5uZXQ=?=" NIL) (NIL NIL NIL NIL))`
	want := `* 1 FETCH (BODYSTRUCTURE ((` +
		`"application" "pdf" ("name*" "utf-8''caf%C3%A9.pdf") NIL "=?utf-8?q?r=C3=A9sum=C3=A9?=" "base64" 4 NIL ` +
		`("attachment" ("filename*" "utf-8''%E2%82%AC%20rates.pdf")) NIL NIL)(` +
		`"message" "rfc822" NIL NIL NIL "7bit" 42 (NIL "inner" ` + innerFrom + " " + innerFrom + " " + innerFrom + ` NIL NIL NIL NIL NIL) ` +
		`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) ` +
		`"mixed" ("boundary" "b") NIL NIL NIL))`
	if u := r.ok("a", "FETCH 1 (BODYSTRUCTURE)"); len(u) != 1 || u[0] != want {
		t.Errorf("BODYSTRUCTURE for a client without UTF-8:\n got %q\nwant %q", u, want)
	}
	if u := r.ok("b", "FETCH 1 (BODY)"); len(u) != 1 || has8bit(u[0]) {
		t.Errorf("BODY for a client without UTF-8: %q", u)
	}
	r.ok("c", "ENABLE UTF8=ACCEPT")
	innerFrom = `((NIL NIL "ü" "example.net"))`
	want = `* 1 FETCH (BODYSTRUCTURE ((` +
		`"application" "pdf" ("name" "café.pdf") NIL "résumé" "base64" 4 NIL ` +
		`("attachment" ("filename" "€ rates.pdf")) NIL NIL)(` +
		`"message" "rfc822" NIL NIL NIL "7bit" 42 (NIL "inner" ` + innerFrom + " " + innerFrom + " " + innerFrom + ` NIL NIL NIL NIL NIL) ` +
		`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) ` +
		`"mixed" ("boundary" "b") NIL NIL NIL))`
	if u := r.ok("d", "FETCH 1 (BODYSTRUCTURE)"); len(u) != 1 || u[0] != want {
		t.Errorf("BODYSTRUCTURE for a UTF8=ACCEPT client:\n got %q\nwant %q", u, want)
	}
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}
