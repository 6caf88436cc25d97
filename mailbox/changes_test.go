package mailbox

import (
	"fmt"
	"testing"
)

func TestTwoHandlesSeeEachOther(t *testing.T) {
	s, _ := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	b := mustAccount(t, s, "alice@example.org")
	for i := 0; i < 3; i++ {
		mustDeliver(t, s, fmt.Sprintf("Subject: %d\r\n\r\n", i), "alice@example.org")
	}
	h1 := mustOpen(t, a, "INBOX", false)
	h2 := mustOpen(t, b, "INBOX", false)
	if got := uidsOf(mustMessages(t, h1)); !equalUIDs(got, []uint32{1, 2, 3}) {
		t.Fatalf("h1 %v", got)
	}
	mustMessages(t, h2)
	drain(h1)
	drain(h2)

	// h1 sets \Seen on 2: h2 hears it, h1 does not hear its own change.
	infos, err := h1.SetFlags([]uint32{2, 99}, FlagsAdd, []string{FlagSeen})
	if err != nil || len(infos) != 1 || !equalStrings(infos[0].Flags, []string{FlagSeen}) {
		t.Fatalf("setflags %+v %v", infos, err)
	}
	if !notified(h2) {
		t.Fatal("h2 not notified of flag change")
	}
	if notified(h1) {
		t.Fatal("h1 notified of its own change")
	}
	c, _ := h2.Changes()
	if len(c.Flags) != 1 || c.Flags[0].UID != 2 || !equalStrings(c.Flags[0].Flags, []string{FlagSeen}) || len(c.Added)+len(c.Expunged) != 0 {
		t.Fatalf("h2 changes %+v", c)
	}
	if c, _ := h1.Changes(); !c.Empty() {
		t.Fatalf("h1 got own change back: %+v", c)
	}
	if c, _ := h2.Changes(); !c.Empty() {
		t.Fatalf("h2 changes repeated: %+v", c)
	}

	// h2 marks 1 \Deleted and expunges it; a delivery arrives.
	h2.SetFlags([]uint32{1}, FlagsAdd, []string{FlagDeleted})
	if ex, err := h2.Expunge(nil); err != nil || !equalUIDs(ex, []uint32{1}) {
		t.Fatalf("expunge %v %v", ex, err)
	}
	mustDeliver(t, s, "Subject: 4\r\n\r\n", "alice@example.org")
	if !notified(h1) {
		t.Fatal("h1 not notified")
	}
	c, _ = h1.Changes()
	if !equalUIDs(c.Expunged, []uint32{1}) || len(c.Added) != 1 || c.Added[0].UID != 4 || len(c.Flags) != 0 {
		t.Fatalf("h1 changes %+v", c)
	}
	c, _ = h2.Changes()
	if len(c.Expunged) != 0 || len(c.Added) != 1 || c.Added[0].UID != 4 || len(c.Flags) != 0 {
		t.Fatalf("h2 changes %+v", c)
	}

	// A message added and expunged before h1 looks is never mentioned;
	// a flag change followed by an expunge is only an expunge.
	mustDeliver(t, s, "Subject: 5\r\n\r\n", "alice@example.org")
	h2.Messages()
	h2.SetFlags([]uint32{5, 3}, FlagsAdd, []string{FlagDeleted})
	h2.Expunge([]uint32{5, 3})
	c, _ = h1.Changes()
	if !equalUIDs(c.Expunged, []uint32{3}) || len(c.Added)+len(c.Flags) != 0 {
		t.Fatalf("h1 changes %+v", c)
	}

	// Messages appended through the account into the handle's own folder
	// are reported to it as Added.
	uid := mustAppend(t, a, "INBOX", "Subject: own\r\n\r\n", FlagSeen)
	c, _ = h1.Changes()
	if len(c.Added) != 1 || c.Added[0].UID != uid || !equalStrings(c.Added[0].Flags, []string{FlagSeen}) {
		t.Fatalf("h1 own append %+v", c)
	}
	// Messages resets the cursor.
	mustDeliver(t, s, "Subject: 7\r\n\r\n", "alice@example.org")
	if got := uidsOf(mustMessages(t, h1)); !equalUIDs(got, []uint32{2, 4, 6, 7}) {
		t.Fatalf("messages %v", got)
	}
	if c, _ := h1.Changes(); !c.Empty() {
		t.Fatalf("changes after Messages: %+v", c)
	}
}

func drain(f Folder) {
	select {
	case <-f.Notify():
	default:
	}
}

func notified(f Folder) bool {
	select {
	case <-f.Notify():
		return true
	default:
		return false
	}
}

// With a tiny change log, a handle that does not poll still gets exactly
// the changes it missed.
func TestChangeLogTrim(t *testing.T) {
	s, _ := testStore(t, Options{ChangeLogSize: 4})
	a := mustAccount(t, s, "alice@example.org")
	lazy := mustOpen(t, a, "INBOX", false)
	busy := mustOpen(t, a, "INBOX", false)
	for i := 0; i < 10; i++ {
		mustDeliver(t, s, fmt.Sprintf("m%d\r\n", i), "alice@example.org")
	}
	mustMessages(t, lazy)
	mustMessages(t, busy)
	// 20 changes: flags on 1..10, expunge 1..5, 5 new messages.
	for uid := uint32(1); uid <= 10; uid++ {
		busy.SetFlags([]uint32{uid}, FlagsAdd, []string{FlagDeleted})
	}
	busy.Expunge([]uint32{1, 2, 3, 4, 5})
	for i := 0; i < 5; i++ {
		mustDeliver(t, s, "new\r\n", "alice@example.org")
	}
	busy.SetFlags([]uint32{12}, FlagsAdd, []string{"$Junk"})
	c, err := lazy.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if !equalUIDs(c.Expunged, []uint32{1, 2, 3, 4, 5}) {
		t.Fatalf("expunged %v", c.Expunged)
	}
	if got := uidsOf(c.Flags); !equalUIDs(got, []uint32{6, 7, 8, 9, 10}) {
		t.Fatalf("flags %v", got)
	}
	if got := uidsOf(c.Added); !equalUIDs(got, []uint32{11, 12, 13, 14, 15}) {
		t.Fatalf("added %v", got)
	}
	if !equalStrings(c.Added[1].Flags, []string{"$Junk"}) {
		t.Fatalf("added 12 flags %v", c.Added[1].Flags)
	}
	if len(s.users["alice@example.org"].folders[inboxName].log) > 4 {
		t.Fatal("log not bounded")
	}
	if c, _ := busy.Changes(); len(c.Expunged)+len(c.Flags) != 0 || len(c.Added) != 5 {
		t.Fatalf("busy %+v", c)
	}
}

func TestReadOnlyHandle(t *testing.T) {
	s, root := testStore(t, Options{})
	mustDeliver(t, s, "x\r\n", "alice@example.org")
	a := mustAccount(t, s, "alice@example.org")
	ro := mustOpen(t, a, "INBOX", true)
	if !ro.ReadOnly() {
		t.Fatal("not read-only")
	}
	before := files(t, userDir(root, "alice@example.org"))
	if _, err := ro.SetFlags([]uint32{1}, FlagsAdd, []string{FlagDeleted}); err != ErrReadOnly {
		t.Fatalf("setflags %v", err)
	}
	if _, err := ro.Expunge(nil); err != ErrReadOnly {
		t.Fatalf("expunge %v", err)
	}
	if err := ro.Remove([]uint32{1}); err != ErrReadOnly {
		t.Fatalf("remove %v", err)
	}
	if _, _, _, err := ro.Move([]uint32{1}, "Trash"); err != ErrReadOnly {
		t.Fatalf("move %v", err)
	}
	if got := files(t, userDir(root, "alice@example.org")); !equalStrings(got, before) {
		t.Fatalf("files changed: %v", got)
	}
	if _, _, dst, err := ro.Copy([]uint32{1}, "Trash"); err != nil || !equalUIDs(dst, []uint32{1}) {
		t.Fatalf("copy from read-only: %v %v", dst, err)
	}
}

func TestClosedStore(t *testing.T) {
	s, _ := testStore(t, Options{PollInterval: 10 * 1e6})
	a := mustAccount(t, s, "alice@example.org")
	f := mustOpen(t, a, "INBOX", false)
	drain(f)
	s.Close()
	if !notified(f) {
		t.Fatal("handles not woken by Close")
	}
	if _, err := f.Messages(); err != ErrClosed {
		t.Fatalf("messages %v", err)
	}
	if _, err := f.Changes(); err != ErrClosed {
		t.Fatalf("changes %v", err)
	}
	if _, err := a.List(); err != ErrClosed {
		t.Fatalf("list %v", err)
	}
	if _, err := s.Account("alice@example.org"); err != ErrClosed {
		t.Fatalf("account %v", err)
	}
	if err := s.Deliver(nil, []string{"alice@example.org"}, nil); err != ErrClosed {
		t.Fatalf("deliver %v", err)
	}
}

func TestSecondOpenRefused(t *testing.T) {
	_, dir := testStore(t, Options{})
	if s2, err := Open(dir, Options{PollInterval: -1}); err == nil {
		s2.Close()
		t.Fatal("second Open of the same mail root succeeded")
	}
}

// SetNotifyFunc's function is called where Notify's channel is signaled:
// for other handles' changes and deliveries, not for the handle's own
// changes, and no more once it is cleared.
func TestNotifyFunc(t *testing.T) {
	s, _ := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	mustDeliver(t, s, "Subject: 1\r\n\r\n", "alice@example.org")
	h1 := mustOpen(t, a, "INBOX", false)
	h2 := mustOpen(t, a, "INBOX", false)
	mustMessages(t, h1)
	mustMessages(t, h2)
	calls := 0
	h1.SetNotifyFunc(func() { calls++ }) // called with the store's lock held
	mustDeliver(t, s, "Subject: 2\r\n\r\n", "alice@example.org")
	if calls != 1 {
		t.Fatalf("%d calls after a delivery, want 1", calls)
	}
	h2.SetFlags([]uint32{1}, FlagsAdd, []string{FlagSeen})
	if calls != 2 {
		t.Fatalf("%d calls after another handle's STORE, want 2", calls)
	}
	h1.SetFlags([]uint32{1}, FlagsAdd, []string{FlagFlagged})
	if calls != 2 {
		t.Fatalf("%d calls after the handle's own STORE, want 2", calls)
	}
	if !notified(h1) {
		t.Fatal("the channel is no longer signaled beside the function")
	}
	h1.SetNotifyFunc(nil)
	mustDeliver(t, s, "Subject: 3\r\n\r\n", "alice@example.org")
	if calls != 2 {
		t.Fatalf("%d calls after SetNotifyFunc(nil), want 2", calls)
	}
}
