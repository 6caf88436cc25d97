package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// RFC 9051 §6.4.5: BODY[] without PEEK sets \Seen and the FETCH response
// then carries FLAGS; BODY.PEEK[] and EXAMINE never do.
func TestSeenSemantics(t *testing.T) {
	e := newEnv(t, nil)
	msg := simple("s", "x\r\n")
	e.deliver(msg, msg, msg)
	r := e.rawLogin()

	r.ok("a", "EXAMINE INBOX")
	u := r.ok("b", "FETCH 1 (BODY[])")
	if want := "* 1 FETCH (BODY[] " + lit(msg) + ")"; len(u) != 1 || u[0] != want {
		t.Errorf("EXAMINE BODY[]: %q", u)
	}
	if infos, _ := e.folder("INBOX"); hasFlag(infos[0].Flags, `\Seen`) {
		t.Errorf("BODY[] in EXAMINE set \\Seen")
	}
	r.ok("c", "SELECT INBOX")
	u = r.ok("d", "FETCH 1 (BODY.PEEK[])")
	if want := "* 1 FETCH (BODY[] " + lit(msg) + ")"; len(u) != 1 || u[0] != want {
		t.Errorf("BODY.PEEK[]: %q", u)
	}
	if infos, _ := e.folder("INBOX"); hasFlag(infos[0].Flags, `\Seen`) {
		t.Errorf("BODY.PEEK[] set \\Seen")
	}
	u = r.ok("e", "FETCH 1:2 (BODY[TEXT])")
	want := []string{`* 1 FETCH (FLAGS (\Seen) BODY[TEXT] {3}` + "\r\nx\r\n)", `* 2 FETCH (FLAGS (\Seen) BODY[TEXT] {3}` + "\r\nx\r\n)"}
	if !slices.Equal(u, want) {
		t.Errorf("BODY[TEXT]:\n got %q\nwant %q", u, want)
	}
	// Already seen: no FLAGS unless asked.
	u = r.ok("f", "FETCH 1 (BODY[TEXT])")
	if want := "* 1 FETCH (BODY[TEXT] {3}\r\nx\r\n)"; len(u) != 1 || u[0] != want {
		t.Errorf("BODY[TEXT] of a seen message: %q", u)
	}
	u = r.ok("g", "FETCH 3 (BINARY[1])")
	if want := "* 3 FETCH (FLAGS (\\Seen) BINARY[1] ~{3}\r\nx\r\n)"; len(u) != 1 || u[0] != want {
		t.Errorf("BINARY[1]: %q", u)
	}
	infos, _ := e.folder("INBOX")
	for i, in := range infos {
		if !hasFlag(in.Flags, `\Seen`) {
			t.Errorf("message %d not \\Seen in the store", i+1)
		}
	}
}

func TestStore(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"), simple("b", "2\r\n"), simple("c", "3\r\n"))
	infos, _ := e.folder("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	u := r.ok("a", `STORE 1:2 +FLAGS (\Flagged $Work)`)
	want := []string{
		fmt.Sprintf(`* 1 FETCH (UID %d FLAGS ($Work \Flagged))`, infos[0].UID),
		fmt.Sprintf(`* 2 FETCH (UID %d FLAGS ($Work \Flagged))`, infos[1].UID),
		// A new keyword changes the mailbox's FLAGS (RFC 9051 §7.3.5).
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)`,
	}
	if !slices.Equal(u, want) {
		t.Errorf("+FLAGS:\n got %q\nwant %q", u, want)
	}
	u = r.ok("b", `UID STORE `+fmt.Sprint(infos[1].UID)+` -FLAGS.SILENT (\Flagged)`)
	if len(u) != 0 {
		t.Errorf("-FLAGS.SILENT answered %q", u)
	}
	u = r.ok("c", `STORE 3 FLAGS (\Seen \Answered)`)
	want = []string{fmt.Sprintf(`* 3 FETCH (UID %d FLAGS (\Answered \Seen))`, infos[2].UID)}
	if !slices.Equal(u, want) {
		t.Errorf("FLAGS:\n got %q\nwant %q", u, want)
	}
	got, _ := e.folder("INBOX")
	for i, w := range []string{`[$Work \Flagged]`, `[$Work]`, `[\Answered \Seen]`} {
		if fmt.Sprint(got[i].Flags) != w {
			t.Errorf("message %d flags in store %v, want %s", i+1, got[i].Flags, w)
		}
	}
	// Read-only: refused, nothing changed.
	before := e.snapshot("INBOX")
	r.ok("x", "EXAMINE INBOX")
	_, tagged := r.cmd("d", `STORE 1 +FLAGS (\Deleted)`)
	if tagged != "d NO [READ-ONLY] Mailbox is read-only" {
		t.Errorf("STORE in EXAMINE: %q", tagged)
	}
	if e.snapshot("INBOX") != before {
		t.Errorf("refused STORE changed the store")
	}
}

func TestStoreWithClient(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"))
	c := e.loginSelect("INBOX")
	msgs, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDraft}}, nil).Collect()
	if err != nil || len(msgs) != 1 || fmt.Sprint(msgs[0].Flags) != `[\Draft]` {
		t.Fatalf("STORE: %v %v", msgs, err)
	}
}

// STORE of \Recent (RFC 3501 §2.3.2: it "can not be altered by the
// client"; RFC 9051 has no such flag) or of a backslash flag that is not
// a system flag is BAD, and changes nothing (RFC 9051 §6.4.6).
func TestStoreRefusedFlags(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"))
	before := e.snapshot("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{`STORE 1 +FLAGS (\Recent)`, `BAD [CLIENTBUG] \Recent cannot be stored`},
		{`STORE 1 FLAGS (\Seen \RECENT)`, `BAD [CLIENTBUG] \Recent cannot be stored`},
		{`UID STORE 1 -FLAGS.SILENT (\Recent)`, `BAD [CLIENTBUG] \Recent cannot be stored`},
		{`STORE 1 +FLAGS (\Seen \Bogus)`, `BAD [CLIENTBUG] Unknown system flag \Bogus`},
		{`STORE 1 FLAGS (\*)`, `BAD [CLIENTBUG] Unknown system flag \*`},
	} {
		_, tagged := r.cmd("a", tc.cmd)
		if got := strings.TrimPrefix(tagged, "a "); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	if e.snapshot("INBOX") != before {
		t.Errorf("refused STOREs changed flags")
	}
	// System flags in any case and keywords are fine.
	u := r.ok("b", `STORE 1 +FLAGS (\sEEN $Label1)`)
	// (The new keyword is announced with a new FLAGS line.)
	if want := `* 1 FETCH (UID 1 FLAGS ($Label1 \Seen))`; len(u) == 0 || u[0] != want {
		t.Errorf("good STORE:\n got %q\nwant %q", u, want)
	}
}
