package imapd

import (
	"fmt"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestCopyAndMove(t *testing.T) {
	e := newEnv(t, nil)
	msgs := []string{simple("a", "1\r\n"), simple("b", "2\r\n"), simple("c", "3\r\n")}
	e.deliver(msgs...)
	infos, _ := e.folder("INBOX")
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.ok("f", `STORE 2 +FLAGS (\Flagged $Keep)`)

	// COPY answers COPYUID (RFC 4315 §3): validity, source and new UIDs.
	_, tagged := r.cmd("a", "COPY 1:2 Archive")
	arch, archBodies := e.folder("Archive")
	st, err := e.store.Account(testUser)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as, _ := st.Status("Archive")
	want := fmt.Sprintf("a OK [COPYUID %d %d:%d %d:%d] COPY completed", as.UIDValidity,
		infos[0].UID, infos[1].UID, arch[0].UID, arch[1].UID)
	if tagged != want {
		t.Errorf("COPY:\n got %q\nwant %q", tagged, want)
	}
	if len(arch) != 2 || archBodies[0] != msgs[0] || archBodies[1] != msgs[1] || fmt.Sprint(arch[1].Flags) != `[$Keep \Flagged]` {
		t.Errorf("Archive after COPY: %v %q", arch, archBodies)
	}
	if in, _ := e.folder("INBOX"); len(in) != 3 {
		t.Errorf("COPY removed messages from INBOX")
	}

	// MOVE (RFC 6851 §3.3): untagged COPYUID, then EXPUNGE per message.
	u, tagged := r.cmd("b", "UID MOVE "+fmt.Sprint(infos[2].UID)+" Trash")
	trash, _ := e.folder("Trash")
	ts, _ := st.Status("Trash")
	wantU := []string{fmt.Sprintf("* OK [COPYUID %d %d %d] COPY completed", ts.UIDValidity, infos[2].UID, trash[0].UID), "* 3 EXPUNGE"}
	if !slices.Equal(u, wantU) || tagged != "b OK UID MOVE completed" {
		t.Errorf("MOVE:\n got %q %q\nwant %q", u, tagged, wantU)
	}
	if in, _ := e.folder("INBOX"); len(in) != 2 {
		t.Errorf("INBOX after MOVE has %d messages", len(in))
	}

	// A missing destination is TRYCREATE, and nothing moves.
	before := e.snapshot("INBOX")
	for _, cmd := range []string{"COPY 1 Nowhere", "MOVE 1 Nowhere"} {
		if _, tagged := r.cmd("c", cmd); tagged != "c NO [TRYCREATE] No such mailbox; create it first" {
			t.Errorf("%s: %q", cmd, tagged)
		}
	}
	if e.snapshot("INBOX") != before {
		t.Errorf("failed COPY/MOVE changed INBOX")
	}
	// Read-only: MOVE refused, COPY allowed.
	r.ok("x", "EXAMINE INBOX")
	if _, tagged := r.cmd("d", "MOVE 1 Trash"); tagged != "d NO [READ-ONLY] Mailbox is read-only" {
		t.Errorf("MOVE from EXAMINE: %q", tagged)
	}
	r.ok("e", "COPY 1 Trash")
	// UIDs not there: OK, no COPYUID.
	if _, tagged := r.cmd("g", "UID COPY 999 Trash"); tagged != "g OK COPY completed" {
		t.Errorf("UID COPY of nothing: %q", tagged)
	}
}

func TestMoveWithClient(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"), simple("b", "2\r\n"))
	c := e.loginSelect("INBOX")
	data, err := c.Move(imap.SeqSetNum(1, 2), "Junk").Wait()
	if err != nil {
		t.Fatalf("MOVE: %v", err)
	}
	if data.UIDValidity == 0 || data.SourceUIDs.String() == "" || data.DestUIDs.String() == "" {
		t.Errorf("MOVE data %+v", data)
	}
	if n := c.Mailbox().NumMessages; n != 0 {
		t.Errorf("client counts %d messages after moving all", n)
	}
}
