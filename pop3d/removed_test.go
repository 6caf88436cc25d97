package pop3d

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/users"
)

// folderDump is a user's INBOX as the store has it: UID, flags and content
// of each message.
func (e *env) folderDump(user string) string {
	e.t.Helper()
	infos, _, bodies := e.inboxOf(user)
	var b strings.Builder
	for i, in := range infos {
		fmt.Fprintf(&b, "%d %v %q\n", in.UID, in.Flags, bodies[i])
	}
	return b.String()
}

// A user deleted while logged in (`mailsuite user del`, another process)
// loses the maildrop at the next command: -ERR, the connection closes,
// and no UPDATE state, so what was marked stays. Other users go on.
func TestAccountRemovedEndsSession(t *testing.T) {
	e := newEnv(t, nil)
	const bob, bobPass = "bob@example.org", "bob's own password"
	if err := e.db.AddUser(bob, bobPass); err != nil {
		t.Fatal(err)
	}
	e.deliver(crlf("Subject: one\n\n1\n"), crlf("Subject: two\n\n2\n"))
	if err := e.store.Deliver(context.Background(), []string{bob}, strings.NewReader(crlf("Subject: bob\n\nb\n"))); err != nil {
		t.Fatal(err)
	}
	aliceBefore, bobBefore := e.folderDump(testUser), e.folderDump(bob)

	c := e.dial()
	c.login()
	c.cmd("DELE 1", "+OK message 1 deleted")
	c2 := e.dial()
	c2.login() // waits at the next command in another state: a RETR
	cb := e.dial()
	cb.cmd("USER "+bob, "+OK send PASS")
	cb.cmd("PASS "+bobPass, "+OK maildrop has 1 message (19 octets)")

	// The CLI is another process: its own FileDB on the same file.
	cli, err := users.OpenFile(filepath.Join(e.dir, "users.db"), users.FileOptions{Domains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.DeleteUser(testUser); err != nil {
		t.Fatal(err)
	}
	// The server looks at the file at most this often.
	time.Sleep(users.DefaultRecheckInterval + 100*time.Millisecond)

	const removed = "-ERR [SYS/PERM] your account was removed, closing connection"
	c.cmd("STAT", removed)
	c.expectClosed()
	c2.cmd("RETR 2", removed)
	c2.expectClosed()

	if got := e.folderDump(testUser); got != aliceBefore {
		t.Errorf("the removed user's INBOX changed:\n%s\nwas\n%s", got, aliceBefore)
	}
	cb.cmd("STAT", "+OK 1 19")
	cb.cmd("QUIT", "+OK "+testHost+" POP3 server signing off (0 messages deleted)")
	if got := e.folderDump(bob); got != bobBefore {
		t.Errorf("bob's INBOX changed:\n%s\nwas\n%s", got, bobBefore)
	}
	if n := len(e.logs.find("account removed; closing session")); n != 2 {
		t.Errorf("%d sessions logged as ended for the removal, want 2", n)
	}
	// And a new login is refused as any unknown user's.
	c3 := e.dial()
	c3.cmd("USER "+testUser, "+OK send PASS")
	c3.cmd("PASS "+testPassword, "-ERR [AUTH] authentication failed")
}
