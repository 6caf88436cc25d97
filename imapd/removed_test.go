package imapd

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/users"
)

// userDump is what the store holds for user: every folder's messages with
// their flags and contents.
func (e *env) userDump(user string) string {
	e.t.Helper()
	acct, err := e.store.Account(user)
	if err != nil {
		e.t.Fatalf("Account: %v", err)
	}
	defer acct.Close()
	list, err := acct.List()
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, fi := range list {
		f, err := acct.Open(fi.Name, true)
		if err != nil {
			e.t.Fatalf("Open %s: %v", fi.Name, err)
		}
		infos, err := f.Messages()
		if err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:\n", fi.Name)
		for _, in := range infos {
			fmt.Fprintf(&b, "  %d %v %d\n", in.UID, in.Flags, in.Size)
		}
		f.Close()
	}
	return b.String()
}

// A user deleted while logged in (`mailsuite user del`, another process)
// loses every open session at its next command: an untagged BYE, the
// connection closes, and the command is not run. Other users go on.
func TestAccountRemovedEndsSessions(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("one", "1"), simple("two", "2"))
	if err := e.store.Deliver(context.Background(), []string{otherUser}, strings.NewReader(simple("bob", "b"))); err != nil {
		t.Fatal(err)
	}
	aliceBefore, bobBefore := e.userDump(testUser), e.userDump(otherUser)

	// Each of alice's sessions will try one command after the removal.
	commands := []string{
		"FETCH 1:* (FLAGS BODY[])",
		"STORE 1 +FLAGS (\\Deleted)",
		"EXPUNGE",
		"CREATE Projects",
		"APPEND INBOX {12+}\r\nSubject: x\r\n",
		"SELECT INBOX",
		"LIST \"\" *",
		"NOOP",
		"IDLE",
	}
	sessions := make([]*raw, len(commands))
	for i := range sessions {
		sessions[i] = e.rawLogin()
		sessions[i].ok("S1", "SELECT INBOX")
	}
	bob := e.raw()
	bob.ok("L1", "LOGIN "+otherUser+` "`+otherPass+`"`)
	bob.ok("S1", "SELECT INBOX")

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

	for i, cmd := range commands {
		r := sessions[i]
		r.send("C1 " + cmd)
		l := r.line()
		if cmd == "IDLE" && strings.HasPrefix(l, "+ ") {
			l = r.line() // the library says "+ idling" before asking us
		}
		if l != "* BYE Your account was removed; closing connection" {
			t.Errorf("%s after the removal: %q", strings.Fields(cmd)[0], l)
		}
		r.expectClosed()
	}

	if got := e.userDump(testUser); got != aliceBefore {
		t.Errorf("the removed user's mail changed:\n%s\nwas\n%s", got, aliceBefore)
	}
	u := bob.ok("F1", "FETCH 1 (FLAGS)")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* 1 FETCH") {
		t.Errorf("bob's FETCH: %q", u)
	}
	bob.ok("N1", "NOOP")
	if got := e.userDump(otherUser); got != bobBefore {
		t.Errorf("bob's mail changed:\n%s\nwas\n%s", got, bobBefore)
	}
	if n := len(e.logs.find("account removed; closing session")); n != len(commands) {
		t.Errorf("%d sessions logged as ended for the removal, want %d", n, len(commands))
	}
	r := e.raw()
	if _, tagged := r.cmd("L2", "LOGIN "+testUser+` "`+testPassword+`"`); !strings.HasPrefix(tagged, "L2 NO [AUTHENTICATIONFAILED]") {
		t.Errorf("login of the removed user: %q", tagged)
	}
}

// A session that is already in IDLE when its user is removed hears BYE at
// the next IDLE poll, without sending anything.
func TestAccountRemovedDuringIdle(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdlePoll = 50 * time.Millisecond })
	e.deliver(simple("one", "1"))
	before := e.userDump(testUser)
	r := e.rawLogin()
	r.ok("S1", "SELECT INBOX")
	r.send("I1 IDLE")
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	cli, err := users.OpenFile(filepath.Join(e.dir, "users.db"), users.FileOptions{Domains: []string{"example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.DeleteUser(testUser); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); l != "* BYE Your account was removed; closing connection" {
		t.Errorf("in IDLE after the removal: %q", l)
	}
	r.expectClosed()
	if got := e.userDump(testUser); got != before {
		t.Errorf("the removed user's mail changed:\n%s\nwas\n%s", got, before)
	}
	if n := len(e.logs.find("account removed; closing session")); n != 1 {
		t.Errorf("%d sessions logged as ended for the removal, want 1", n)
	}
}
