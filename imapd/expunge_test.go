package imapd

import (
	"fmt"
	"slices"
	"testing"
)

func TestExpunge(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"), simple("b", "2\r\n"), simple("c", "3\r\n"), simple("d", "4\r\n"))
	infos, _ := e.folder("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.ok("a", `STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	// EXPUNGE numbers are each right when read: highest first here.
	u := r.ok("b", "EXPUNGE")
	if want := []string{"* 4 EXPUNGE", "* 2 EXPUNGE"}; !slices.Equal(u, want) {
		t.Errorf("EXPUNGE: %q", u)
	}
	got, _ := e.folder("INBOX")
	if len(got) != 2 || got[0].UID != infos[0].UID || got[1].UID != infos[2].UID {
		t.Errorf("store after EXPUNGE: %v", got)
	}
	// UID EXPUNGE removes only the named \Deleted messages (RFC 4315 §2.1).
	r.ok("c", `STORE 1:2 +FLAGS.SILENT (\Deleted)`)
	u = r.ok("d", fmt.Sprintf("UID EXPUNGE %d", infos[2].UID))
	if want := []string{"* 2 EXPUNGE"}; !slices.Equal(u, want) {
		t.Errorf("UID EXPUNGE: %q", u)
	}
	if got, _ := e.folder("INBOX"); len(got) != 1 || got[0].UID != infos[0].UID {
		t.Errorf("store after UID EXPUNGE: %v", got)
	}
	// EXAMINE then CLOSE expunges nothing (RFC 9051 §6.4.2), nor EXPUNGE.
	r.ok("e", "EXAMINE INBOX")
	before := e.snapshot("INBOX")
	if u := r.ok("f", "EXPUNGE"); len(u) != 0 {
		t.Errorf("EXPUNGE in EXAMINE answered %q", u)
	}
	r.ok("g", "CLOSE")
	if e.snapshot("INBOX") != before {
		t.Errorf("CLOSE after EXAMINE expunged")
	}
	// SELECT then CLOSE expunges silently.
	r.ok("h", "SELECT INBOX")
	u = r.ok("i", "CLOSE")
	if len(u) != 0 {
		t.Errorf("CLOSE answered %q", u)
	}
	if got, _ := e.folder("INBOX"); len(got) != 0 {
		t.Errorf("CLOSE did not expunge: %v", got)
	}
	_, tagged := r.cmd("j", "FETCH 1 FLAGS")
	if tagged != "j BAD [CLIENTBUG] This command is only valid in the selected state" {
		t.Errorf("FETCH after CLOSE: %q", tagged)
	}
}
