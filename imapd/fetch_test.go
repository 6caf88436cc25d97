package imapd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// The parts of a nested multipart test message, kept apart so that the
// expected sizes are computed, not typed.
const (
	mpHeader = "From: \"Carol Example\" <carol@example.net>\r\n" +
		"To: Alice <alice@example.org>, bob@example.org\r\n" +
		"Cc: dave@example.com\r\n" +
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
		"Date: Tue, 07 Mar 2023 10:00:00 +0100\r\n" +
		"Message-ID: <m1@example.net>\r\n" +
		"In-Reply-To: <m0@example.net>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
	mpPlainMIME = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	mpPlain     = "Caf=C3=A9 au lait\r\nsecond line"
	mpHTMLMIME  = "Content-Type: text/html; charset=utf-8\r\n\r\n"
	mpHTML      = "<p>Café</p>\r\n"
	mpInnerHdr  = "From: dave@example.com\r\nSubject: inner message\r\n\r\n"
	mpInnerBody = "Inner body\r\nline two"
	mpPDFMIME   = "Content-Type: application/pdf; name=\"x.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"x.pdf\"\r\nContent-Language: en, fr\r\n\r\n"
	mpPDF = "SGVsbG8g\r\nUERG"
)

var mpAlt = "Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
	"--inner\r\n" + mpPlainMIME + mpPlain + "\r\n" +
	"--inner\r\n" + mpHTMLMIME + mpHTML + "\r\n" +
	"--inner--\r\n"

var mpText = "preamble\r\n" +
	"--outer\r\n" + mpAlt + "\r\n" +
	"--outer\r\nContent-Type: message/rfc822\r\n\r\n" + mpInnerHdr + mpInnerBody + "\r\n" +
	"--outer\r\n" + mpPDFMIME + mpPDF + "\r\n" +
	"--outer--\r\nepilogue\r\n"

var mpMessage = mpHeader + mpText

func lit(s string) string { return fmt.Sprintf("{%d}\r\n%s", len(s), s) }

func TestFetchEnvelopeAndBodyStructure(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(mpMessage)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	u := r.ok("a", "FETCH 1 (ENVELOPE)")
	env := `* 1 FETCH (ENVELOPE ("Tue, 07 Mar 2023 10:00:00 +0100" "=?utf-8?q?Gr=C3=BC=C3=9Fe?=" ` +
		`(("Carol Example" NIL "carol" "example.net")) (("Carol Example" NIL "carol" "example.net")) ` +
		`(("Carol Example" NIL "carol" "example.net")) (("Alice" NIL "alice" "example.org") (NIL NIL "bob" "example.org")) ` +
		`((NIL NIL "dave" "example.com")) NIL "<m0@example.net>" "<m1@example.net>"))`
	if len(u) != 1 || u[0] != env {
		t.Errorf("ENVELOPE:\n got %q\nwant %q", u, env)
	}
	plainLines := strings.Count(mpPlain, "\n")
	html := fmt.Sprintf(`("text" "html" ("charset" "utf-8") NIL NIL "7bit" %d %d NIL NIL NIL NIL)`, len(mpHTML), strings.Count(mpHTML, "\n"))
	inner := mpInnerHdr + mpInnerBody
	want := `* 1 FETCH (BODYSTRUCTURE (` +
		`((` + fmt.Sprintf(`"text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" %d %d NIL NIL NIL NIL`, len(mpPlain), plainLines) + `)` +
		html + ` "alternative" ("boundary" "inner") NIL NIL NIL)` +
		fmt.Sprintf(`("message" "rfc822" NIL NIL NIL "7bit" %d `, len(inner)) +
		`(NIL "inner message" ((NIL NIL "dave" "example.com")) ((NIL NIL "dave" "example.com")) ((NIL NIL "dave" "example.com")) NIL NIL NIL NIL NIL) ` +
		fmt.Sprintf(`("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d NIL NIL NIL NIL) %d NIL NIL NIL NIL)`,
			len(mpInnerBody), strings.Count(mpInnerBody, "\n"), strings.Count(inner, "\n")) +
		fmt.Sprintf(`("application" "pdf" ("name" "x.pdf") NIL NIL "base64" %d NIL ("attachment" ("filename" "x.pdf")) ("en" "fr") NIL)`, len(mpPDF)) +
		` "mixed" ("boundary" "outer") NIL NIL NIL))`
	u = r.ok("b", "FETCH 1 (BODYSTRUCTURE)")
	if len(u) != 1 || u[0] != want {
		t.Errorf("BODYSTRUCTURE:\n got %q\nwant %q", u, want)
	}
	// BODY is the same without extension data.
	u = r.ok("c", "FETCH 1 (BODY)")
	if len(u) != 1 || !strings.HasPrefix(u[0], `* 1 FETCH (BODY ((("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" `) ||
		strings.Contains(u[0], "attachment") {
		t.Errorf("BODY: %q", u)
	}
}

func TestFetchSections(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(mpMessage)
	r := e.rawLogin()
	r.ok("s", "EXAMINE INBOX")
	inner := mpInnerHdr + mpInnerBody
	for _, tc := range []struct{ item, want string }{
		{"BODY.PEEK[]", "BODY[] " + lit(mpMessage)},
		{"BODY.PEEK[HEADER]", "BODY[HEADER] " + lit(mpHeader)},
		{"BODY.PEEK[TEXT]", "BODY[TEXT] " + lit(mpText)},
		{"BODY.PEEK[HEADER.FIELDS (subject FROM X-Missing)]", `BODY[HEADER.FIELDS ("subject" "FROM" "X-Missing")] ` +
			lit("From: \"Carol Example\" <carol@example.net>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n")},
		{"BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Date Message-ID In-Reply-To MIME-Version)]", `BODY[HEADER.FIELDS.NOT ("From" "To" "Cc" "Date" "Message-ID" "In-Reply-To" "MIME-Version")] ` +
			lit("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n")},
		{"BODY.PEEK[1]", "BODY[1] " + lit(mpAlt[strings.Index(mpAlt, "\r\n\r\n")+4:])},
		{"BODY.PEEK[1.MIME]", "BODY[1.MIME] " + lit("Content-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n")},
		{"BODY.PEEK[1.1]", "BODY[1.1] " + lit(mpPlain)},
		{"BODY.PEEK[1.1.MIME]", "BODY[1.1.MIME] " + lit(mpPlainMIME)},
		{"BODY.PEEK[1.2]", "BODY[1.2] " + lit(mpHTML)},
		{"BODY.PEEK[2]", "BODY[2] " + lit(inner)},
		{"BODY.PEEK[2.HEADER]", "BODY[2.HEADER] " + lit(mpInnerHdr)},
		{"BODY.PEEK[2.TEXT]", "BODY[2.TEXT] " + lit(mpInnerBody)},
		{"BODY.PEEK[2.1]", "BODY[2.1] " + lit(mpInnerBody)},
		{"BODY.PEEK[2.HEADER.FIELDS (Subject)]", `BODY[2.HEADER.FIELDS ("Subject")] ` + lit("Subject: inner message\r\n\r\n")},
		{"BODY.PEEK[3]", "BODY[3] " + lit(mpPDF)},
		// Parts that do not exist, and HEADER of a part that is not a
		// message, are empty.
		{"BODY.PEEK[4]", "BODY[4] " + lit("")},
		{"BODY.PEEK[1.1.2]", "BODY[1.1.2] " + lit("")},
		{"BODY.PEEK[3.HEADER]", "BODY[3.HEADER] " + lit("")},
		// Partials (RFC 9051 §6.4.5).
		{"BODY.PEEK[TEXT]<0.8>", "BODY[TEXT]<0> " + lit("preamble")},
		{"BODY.PEEK[]<6.7>", "BODY[]<6> " + lit(mpMessage[6:13])},
		{"BODY.PEEK[1.1]<4.100>", "BODY[1.1]<4> " + lit(mpPlain[4:])},
		{"BODY.PEEK[1.1]<1000.10>", "BODY[1.1]<1000> " + lit("")},
		{"BODY.PEEK[HEADER.FIELDS (Subject)]<0.7>", `BODY[HEADER.FIELDS ("Subject")]<0> ` + lit("Subject")},
		// RFC822 forms (RFC 3501).
		{"RFC822.HEADER", "RFC822.HEADER " + lit(mpHeader)},
	} {
		u := r.ok("f", "FETCH 1 ("+tc.item+")")
		want := "* 1 FETCH (" + tc.want + ")"
		if len(u) != 1 || u[0] != want {
			t.Errorf("FETCH %s:\n got %q\nwant %q", tc.item, u, want)
		}
	}
}

func TestFetchBinary(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(mpMessage)
	r := e.rawLogin()
	r.ok("s", "EXAMINE INBOX")
	for _, tc := range []struct{ item, want string }{
		{"BINARY.PEEK[3]", "BINARY[3] ~" + lit("Hello PDF")},
		{"BINARY.SIZE[3]", "BINARY.SIZE[3] 9"},
		{"BINARY.PEEK[1.1]", "BINARY[1.1] ~" + lit("Café au lait\r\nsecond line")},
		{"BINARY.SIZE[1.1]", fmt.Sprintf("BINARY.SIZE[1.1] %d", len("Café au lait\r\nsecond line"))},
		{"BINARY.PEEK[3]<2.3>", "BINARY[3] ~" + lit("llo")},
		{"BINARY.PEEK[2]", "BINARY[2] ~" + lit(mpInnerHdr+mpInnerBody)},
		{"BINARY.PEEK[7]", "BINARY[7] ~" + lit("")},
	} {
		u := r.ok("f", "FETCH 1 ("+tc.item+")")
		want := "* 1 FETCH (" + tc.want + ")"
		if len(u) != 1 || u[0] != want {
			t.Errorf("FETCH %s:\n got %q\nwant %q", tc.item, u, want)
		}
	}
	e.deliver("Subject: odd\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n")
	r.ok("n", "NOOP")
	_, tagged := r.cmd("g", "FETCH 2 (BINARY.PEEK[1])")
	if tagged != "g NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding" {
		t.Errorf("BINARY of an unknown encoding: %q", tagged)
	}
}

func TestFetchBigBinaryAndStructure(t *testing.T) {
	e := newEnv(t, nil)
	msg, data := bigAttachment(5 << 20)
	e.deliver(msg)
	c := e.loginSelect("INBOX")
	bin := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	m := fetchOne(t, c, 1, &imap.FetchOptions{
		BodyStructure:     &imap.FetchItemBodyStructure{Extended: true},
		BinarySection:     []*imap.FetchItemBinarySection{bin},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	})
	if got := m.FindBinarySection(bin); string(got) != string(data) {
		t.Errorf("BINARY[2]: %d octets, want the %d of the attachment", len(got), len(data))
	}
	if n, ok := m.FindBinarySectionSize([]int{2}); !ok || n != uint32(len(data)) {
		t.Errorf("BINARY.SIZE[2] = %d, %v", n, ok)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 {
		t.Fatalf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	att := mp.Children[1].(*imap.BodyStructureSinglePart)
	if att.Type != "application" || att.Encoding != "base64" || att.Disposition().Params["filename"] != "blob.bin" {
		t.Errorf("attachment structure %#v", att)
	}
}

// FETCH macros and the plain items.
func TestFetchMacros(t *testing.T) {
	e := newEnv(t, nil)
	msg := simple("hello", "body\r\n")
	e.deliver(msg)
	infos, _ := e.folder("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	date := infos[0].InternalDate.Format("_2-Jan-2006 15:04:05 -0700") // RFC 9051 §9 date-time
	u := r.ok("a", "FETCH 1 FAST")
	want := fmt.Sprintf(`* 1 FETCH (FLAGS () INTERNALDATE "%s" RFC822.SIZE %d)`, date, len(msg))
	if len(u) != 1 || u[0] != want {
		t.Errorf("FAST:\n got %q\nwant %q", u, want)
	}
	u = r.ok("b", "UID FETCH 1:* (FLAGS)")
	want = fmt.Sprintf(`* 1 FETCH (UID %d FLAGS ())`, infos[0].UID)
	if len(u) != 1 || u[0] != want {
		t.Errorf("UID FETCH:\n got %q\nwant %q", u, want)
	}
}

// A message that holds NUL (SMTP delivered it: 8BITMIME/BINARYMIME) is
// sent in BODY[...] and RFC822* plain literals with each NUL as 0x80, at
// the same length (RFC 9051 §4.3: no NUL outside literal8; nul.go).
// BINARY[] is literal8 and keeps it (RFC 3516 §4.2). The store is not
// changed.
func TestFetchNULInPlainLiterals(t *testing.T) {
	e := newEnv(t, nil)
	hdr := "From: carol@example.net\r\nX-Odd: a\x00b\r\nSubject: nul\r\n\r\n"
	body := "one\x00two\r\n\x00\r\n"
	msg := hdr + body
	e.deliver(msg)
	before := e.diskContents()
	high := func(s string) string { return strings.ReplaceAll(s, "\x00", "\x80") }
	r := e.rawLogin()
	r.ok("s", "EXAMINE INBOX")
	for _, tc := range []struct{ item, want string }{
		{"BODY.PEEK[]", "BODY[] " + lit(high(msg))},
		{"BODY.PEEK[TEXT]", "BODY[TEXT] " + lit(high(body))},
		{"BODY.PEEK[HEADER]", "BODY[HEADER] " + lit(high(hdr))},
		{"BODY.PEEK[HEADER.FIELDS (X-Odd)]", `BODY[HEADER.FIELDS ("X-Odd")] ` + lit("X-Odd: a\x80b\r\n\r\n")},
		{"BODY.PEEK[1]", "BODY[1] " + lit(high(body))},
		{"BODY.PEEK[]<3.5>", "BODY[]<3> " + lit(high(msg[3:8]))},
		{"RFC822", "RFC822 " + lit(high(msg))},
		{"RFC822.TEXT", "RFC822.TEXT " + lit(high(body))},
		{"RFC822.SIZE BINARY.PEEK[]", fmt.Sprintf("RFC822.SIZE %d BINARY[] ~", len(msg)) + lit(msg)},
		{"BINARY.PEEK[1]", "BINARY[1] ~" + lit(body)},
	} {
		u := r.ok("f", "FETCH 1 ("+tc.item+")")
		if want := "* 1 FETCH (" + tc.want + ")"; len(u) != 1 || u[0] != want {
			t.Errorf("FETCH %s:\n got %q\nwant %q", tc.item, u, want)
		}
	}
	if got := e.diskContents(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("FETCH changed the stored message")
	}
}
