package imapd

import (
	"fmt"
	"slices"
	"testing"
)

// SELECT and EXAMINE answers (RFC 9051 §6.3.2, §6.3.3; RFC 3501 §6.3.1
// for the IMAP4rev1 extras).
func TestSelectExamine(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"), simple("b", "2\r\n"))
	r := e.rawLogin()
	r.ok("f", `STATUS INBOX (MESSAGES)`)
	a := e.rawLogin()
	a.ok("s", "SELECT INBOX")
	a.ok("f", `STORE 1 +FLAGS.SILENT (\Seen $Later)`)
	a.ok("c", "CLOSE")
	infos, _ := e.folder("INBOX")
	acct, _ := e.store.Account(testUser)
	st, _ := acct.Status("INBOX")
	acct.Close()

	u, tagged := r.cmd("s", "SELECT INBOX")
	want := []string{
		"* 2 EXISTS",
		"* 0 RECENT",
		"* OK [UNSEEN 2] First unseen message",
		fmt.Sprintf("* OK [UIDVALIDITY %d] UIDs valid", st.UIDValidity),
		fmt.Sprintf("* OK [UIDNEXT %d] Predicted next UID", infos[1].UID+1),
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Later)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Later \*)] Permanent flags`,
	}
	if !slices.Equal(u, want) || tagged != "s OK [READ-WRITE] SELECT completed" {
		t.Errorf("SELECT:\n got %q %q\nwant %q", u, tagged, want)
	}
	u, tagged = r.cmd("x", "EXAMINE INBOX")
	want[len(want)-1] = `* OK [PERMANENTFLAGS ()] Permanent flags`
	want = append([]string{"* OK [CLOSED] Previous mailbox is now closed"}, want...)
	if !slices.Equal(u, want) || tagged != "x OK [READ-ONLY] EXAMINE completed" {
		t.Errorf("EXAMINE:\n got %q %q\nwant %q", u, tagged, want)
	}
	if _, tagged := r.cmd("y", "SELECT Nope"); tagged != "y NO [NONEXISTENT] No such mailbox" {
		t.Errorf("SELECT missing: %q", tagged)
	}
	// A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
	if _, tagged := r.cmd("z", "FETCH 1 FLAGS"); tagged != "z BAD [CLIENTBUG] This command is only valid in the selected state" {
		t.Errorf("FETCH after a failed SELECT: %q", tagged)
	}
	r.ok("u", "SELECT INBOX")
	r.ok("v", "UNSELECT")
	if _, tagged := r.cmd("w", "FETCH 1 FLAGS"); tagged != "w BAD [CLIENTBUG] This command is only valid in the selected state" {
		t.Errorf("FETCH after UNSELECT: %q", tagged)
	}
}
