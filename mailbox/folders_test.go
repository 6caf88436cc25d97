package mailbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func listNames(t *testing.T, a Account) []string {
	t.Helper()
	l, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range l {
		s := f.Name
		if f.SpecialUse != "" {
			s += " " + f.SpecialUse
		}
		if f.Subscribed {
			s += " +"
		}
		out = append(out, s)
	}
	return out
}

func TestDefaultFolders(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	want := []string{"INBOX +", `Archive \Archive +`, `Drafts \Drafts +`, `Junk \Junk +`, `Sent \Sent +`, `Trash \Trash +`}
	if got := listNames(t, a); !equalStrings(got, want) {
		t.Fatalf("list %q", got)
	}
	u := userDir(root, "alice@example.org")
	for _, d := range []string{"cur", "new", "tmp", ".Sent/cur", ".Trash/new", ".Junk/tmp", ".Archive/maildirfolder"} {
		if _, err := os.Stat(filepath.Join(u, d)); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	subs, _ := os.ReadFile(filepath.Join(u, subscriptionsFile))
	if string(subs) != "Archive\nDrafts\nINBOX\nJunk\nSent\nTrash\n" {
		t.Fatalf("subscriptions %q", subs)
	}
	// A deleted default folder is not made again.
	a.Delete("Junk")
	s.Close()
	s2 := openAt(t, filepath.Dir(filepath.Dir(u)), Options{})
	a2 := mustAccount(t, s2, "alice@example.org")
	if got := listNames(t, a2); len(got) != 5 {
		t.Fatalf("list after restart %q", got)
	}
}

func TestCreateDeleteRename(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	u := userDir(root, "alice@example.org")
	check := func(err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("err %v, want %v", err, want)
		}
	}
	check(a.Create("INBOX", ""), ErrExists)
	check(a.Create("Sent", ""), ErrExists)
	check(a.Create("a.b", ""), ErrBadName)
	check(a.Create("../x", ""), ErrBadName)
	check(a.Create("X", `\Bogus`), ErrCannot)
	check(a.Create("Work/2024/Q1", `\Archive`), nil)
	check(a.Create("Projects/", ""), nil)
	check(a.Create("Ünïcödé", ""), nil)
	for _, d := range []string{".Work", ".Work.2024", ".Work.2024.Q1", ".Projects", ".&ANw-n&AO8-c&APY-d&AOk-"} {
		if _, err := os.Stat(filepath.Join(u, d, "cur")); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
	uid := mustAppend(t, a, "Work/2024", "Subject: w\r\n\r\n")
	check(a.SetSubscribed("Work/2024", true), nil)

	// Rename with children; handles on them follow.
	h := mustOpen(t, a, "Work/2024", false)
	mustMessages(t, h)
	stBefore, _ := a.Status("Work/2024")
	check(a.Rename("Work", "Work"), ErrExists)
	check(a.Rename("Work", "Sent"), ErrExists)
	check(a.Rename("Work", "Work/Sub"), ErrCannot)
	check(a.Rename("Nope", "X"), ErrNoMailbox)
	check(a.Rename("Work", "INBOX"), ErrExists)
	check(a.Rename("Work", "Old/Work"), nil)
	got := listNames(t, a)
	want := []string{"INBOX +", `Archive \Archive +`, `Drafts \Drafts +`, `Junk \Junk +`, "Old", "Old/Work", "Old/Work/2024 +", `Old/Work/2024/Q1 \Archive`, "Projects", `Sent \Sent +`, `Trash \Trash +`, "Ünïcödé"}
	if !equalStrings(got, want) {
		t.Fatalf("list %q", got)
	}
	if h.Name() != "Old/Work/2024" {
		t.Fatalf("handle name %q", h.Name())
	}
	if body, _ := readMsg(t, h, uid); body != "Subject: w\r\n\r\n" {
		t.Fatalf("read after rename %q", body)
	}
	if st, _ := a.Status("Old/Work/2024"); st.UIDValidity != stBefore.UIDValidity || st.Messages != 1 {
		t.Fatalf("status %+v", st)
	}
	check(func() error { _, err := a.Status("Work/2024"); return err }(), ErrNoMailbox)

	// Delete keeps children; INBOX cannot be deleted.
	check(a.Delete("INBOX"), ErrCannot)
	check(a.Delete("Nope"), ErrNoMailbox)
	check(a.Delete("Old/Work"), nil)
	got = listNames(t, a)
	if strings.Contains(strings.Join(got, ","), "Old/Work,") || !strings.Contains(strings.Join(got, ","), "Old/Work/2024 +") {
		t.Fatalf("list after delete %q", got)
	}
	check(a.Delete("Old/Work/2024"), nil)
	c, err := h.Changes()
	if err != nil || !equalUIDs(c.Expunged, []uint32{uid}) {
		t.Fatalf("handle on deleted folder: %+v %v", c, err)
	}
	check(func() error { _, err := h.Messages(); return err }(), ErrNoMailbox)
	// RFC 3501 §6.3.6, RFC 9051 §6.3.7: DELETE does not unsubscribe.
	if subs, _ := os.ReadFile(filepath.Join(u, subscriptionsFile)); !strings.Contains(string(subs), "Old.Work.2024\n") {
		t.Fatalf("subscription dropped by delete: %q", subs)
	}
	if subs, err := a.Subscriptions(); err != nil || !equalStrings(subs, []string{"INBOX", "Archive", "Drafts", "Junk", "Old/Work/2024", "Sent", "Trash"}) {
		t.Fatalf("subscriptions after delete %q %v", subs, err)
	}
	if left := tmpFiles(t, u); len(left) != 0 {
		t.Fatalf("tmp/ after delete: %v", left)
	}
	// Append to a missing folder is ErrNoMailbox (IMAP TRYCREATE).
	_, _, err = a.Append("Old/Work/2024", strings.NewReader("x"), nil, timeZero)
	check(err, ErrNoMailbox)
	_, err = a.Open("Nope", false)
	check(err, ErrNoMailbox)
	check(a.SetSubscribed("Nope", true), nil)
	check(a.SetSubscribed("a.b", true), ErrBadName)
}

// RFC 9051 §6.3.6: renaming INBOX moves its messages to the new folder
// and leaves INBOX empty; its children stay.
func TestRenameInbox(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	mustDeliver(t, s, "one\r\n", "alice@example.org")
	mustAppend(t, a, "INBOX", "two\r\n", FlagSeen, "Kw")
	a.Create("INBOX/Child", "")
	h := mustOpen(t, a, "INBOX", false)
	mustMessages(t, h)
	if err := a.Rename("INBOX", "Sent"); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if err := a.Rename("inbox", "Old Mail"); err != nil {
		t.Fatal(err)
	}
	c, _ := h.Changes()
	if !equalUIDs(c.Expunged, []uint32{1, 2}) {
		t.Fatalf("inbox handle %+v", c)
	}
	if fs := files(t, userDir(root, "alice@example.org")); len(fs) != 0 {
		t.Fatalf("inbox files %v", fs)
	}
	o := mustOpen(t, a, "Old Mail", true)
	ms := mustMessages(t, o)
	if len(ms) != 2 || !equalStrings(ms[1].Flags, []string{"Kw", FlagSeen}) {
		t.Fatalf("%+v", ms)
	}
	if body, _ := readMsg(t, o, ms[0].UID); body != "one\r\n" {
		t.Fatalf("%q", body)
	}
	if _, err := a.Status("INBOX/Child"); err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, s, "three\r\n", "alice@example.org")
	if st, _ := a.Status("INBOX"); st.Messages != 1 || st.UIDNext != 4 {
		t.Fatalf("inbox %+v", st)
	}
}

func TestStatusCounters(t *testing.T) {
	s, _ := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	mustDeliver(t, s, "a\r\n", "alice@example.org")
	mustDeliver(t, s, "bb\r\n", "alice@example.org")
	mustAppend(t, a, "INBOX", "ccc\r\n", FlagSeen)
	f := mustOpen(t, a, "INBOX", false)
	f.SetFlags([]uint32{1}, FlagsAdd, []string{FlagDeleted})
	st, err := a.Status("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Messages: 3, Unseen: 2, Deleted: 1, UIDNext: 4, UIDValidity: f.UIDValidity(), Size: 3 + 4 + 5, HighestModSeq: st.HighestModSeq}
	if st != want || st.HighestModSeq < 5 {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	f.Expunge(nil)
	f.SetFlags([]uint32{2}, FlagsReplace, []string{FlagSeen})
	st2, _ := a.Status("INBOX")
	if st2.Messages != 2 || st2.Unseen != 0 || st2.Deleted != 0 || st2.Size != 9 || st2.HighestModSeq <= st.HighestModSeq {
		t.Fatalf("status %+v", st2)
	}
	_, err = a.Status("Nope")
	if !errors.Is(err, ErrNoMailbox) {
		t.Fatal(err)
	}
}

// Subscriptions lists subscribed names whether or not they are folders,
// INBOX first, and keeps them across a restart; UNSUBSCRIBE is the only
// way out (RFC 9051 §6.3.7).
func TestSubscriptionsOfMissingFolders(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	check := func(err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Fatalf("got %v, want %v", err, want)
		}
	}
	check(a.Create("Gone", ""), nil)
	check(a.SetSubscribed("Gone", true), nil)
	check(a.SetSubscribed("Never/There", true), nil)
	check(a.SetSubscribed("Aardvark", true), nil)
	check(a.Delete("Gone"), nil)
	want := []string{"INBOX", "Aardvark", "Archive", "Drafts", "Gone", "Junk", "Never/There", "Sent", "Trash"}
	if got, err := a.Subscriptions(); err != nil || !equalStrings(got, want) {
		t.Fatalf("subscriptions %q %v", got, err)
	}
	// List shows folders only; the missing names are not folders.
	for _, f := range listNames(t, a) {
		if strings.HasPrefix(f, "Gone") || strings.HasPrefix(f, "Never") || strings.HasPrefix(f, "Aardvark") {
			t.Fatalf("list shows a missing folder: %q", f)
		}
	}
	// The file is what another session or a restart reads.
	s.Close()
	s2 := openAt(t, root, Options{})
	a2 := mustAccount(t, s2, "alice@example.org")
	if got, err := a2.Subscriptions(); err != nil || !equalStrings(got, want) {
		t.Fatalf("subscriptions after reopen %q %v", got, err)
	}
	check(a2.SetSubscribed("Gone", false), nil)
	check(a2.SetSubscribed("Never/There", false), nil)
	want = []string{"INBOX", "Aardvark", "Archive", "Drafts", "Junk", "Sent", "Trash"}
	if got, err := a2.Subscriptions(); err != nil || !equalStrings(got, want) {
		t.Fatalf("subscriptions after unsubscribe %q %v", got, err)
	}
	a2.Close()
	if _, err := a2.Subscriptions(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed account: %v", err)
	}
}
