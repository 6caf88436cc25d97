package imapd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

// TestFetchIndexLinesMatchLibrary: the FETCH responses indexLines writes
// for UID, FLAGS, INTERNALDATE and RFC822.SIZE are the octets go-imap
// writes for the same items (it still answers any FETCH that also asks
// for ENVELOPE, so its line must begin with ours), over messages with no
// flags, system flags, keywords, one- and two-digit days and other zones,
// and with the items asked in any order (the response order is fixed).
func TestFetchIndexLinesMatchLibrary(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	dates := []time.Time{
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)),
		time.Date(2023, 12, 25, 23, 59, 59, 0, time.FixedZone("", -(9*3600+30*60))),
		time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC),
	}
	flags := [][]imap.Flag{
		nil,
		{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged},
		{imap.FlagDraft, "$Forwarded", "Junk", "$label~1"},
	}
	for i := range dates {
		appendMsg(t, c, "INBOX", simple(fmt.Sprintf("m%d", i), strings.Repeat("x", i*100)+"\r\n"),
			&imap.AppendOptions{Time: dates[i], Flags: flags[i]})
	}
	c.Logout().Wait()

	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	for _, items := range []string{"UID FLAGS INTERNALDATE RFC822.SIZE", "RFC822.SIZE FLAGS", "INTERNALDATE", "FAST", "FLAGS UID"} {
		for _, cmd := range []string{"FETCH 1:*", "UID FETCH 1:*"} {
			var ours, theirs []string
			if items == "FAST" { // a macro stands alone (RFC 9051 §6.4.5)
				ours = r.ok("a", cmd+" FAST")
				theirs = r.ok("b", cmd+" (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
			} else {
				ours = r.ok("a", cmd+" ("+items+")")
				theirs = r.ok("b", cmd+" ("+items+" ENVELOPE)")
			}
			if len(ours) != len(dates) || len(theirs) != len(dates) {
				t.Fatalf("%s (%s): %d and %d responses, want %d", cmd, items, len(ours), len(theirs), len(dates))
			}
			for i := range ours {
				head := strings.TrimSuffix(ours[i], ")") + " ENVELOPE ("
				if !strings.HasSuffix(ours[i], ")") || !strings.HasPrefix(theirs[i], head) {
					t.Errorf("%s (%s), message %d:\n ours    %q\n go-imap %q", cmd, items, i+1, ours[i], theirs[i])
				}
			}
		}
	}
	// A spot check by hand of one line, against RFC 9051's syntax.
	u := r.ok("c", "UID FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE)")
	want := fmt.Sprintf(`* 1 FETCH (UID 1 FLAGS () INTERNALDATE " 2-Jan-2024 03:04:05 +0100" RFC822.SIZE %d)`, len(simple("m0", "\r\n")))
	if len(u) != 1 || u[0] != want {
		t.Errorf("got %q\nwant %q", u, want)
	}
}

// TestWireFlagOK: indexLines writes a flag only where go-imap's encoder
// would; for any other the message goes the library's way.
func TestWireFlagOK(t *testing.T) {
	for s, want := range map[string]bool{
		`\Seen`: true, "$Forwarded": true, "Junk": true, "a~b": true, "ÿ": true,
		"": false, `a\b`: false, `\\Seen`: false, "a b": false, "a(b": false, "a)": false,
		"{3}": false, "%": false, "*": false, `"x"`: false, "x]": false, "a\x01": false, "a\x7f": false, "\x85": false,
	} {
		if got := wireFlagOK(s); got != want {
			t.Errorf("wireFlagOK(%q) = %v, want %v", s, got, want)
		}
	}
	var l indexLines
	if l.add(1, mailbox.MessageInfo{UID: 7, Flags: []string{"bad flag"}}, &imap.FetchOptions{UID: true, Flags: true}) || len(l.buf) != 0 {
		t.Errorf("a flag the library refuses was written: %q", l.buf)
	}
}

// The protocol trace (debug_protocol) shows the FETCH lines indexLines
// writes, as it shows the library's own.
func TestFetchIndexLinesTraced(t *testing.T) {
	var trace logBuffer
	e := newEnv(t, func(o *Options) { o.DebugWriter = &trace })
	e.deliver(simple("traced", "body\r\n"))
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	u := r.ok("f", "UID FETCH 1:* (UID FLAGS)")
	if len(u) != 1 {
		t.Fatalf("FETCH: %q", u)
	}
	if !strings.Contains(trace.String(), u[0]+"\r\n") {
		t.Errorf("the trace lacks %q:\n%s", u[0], trace.String())
	}
}
