package mailbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Files dropped in, renamed or removed by other programs (mutt, a backup
// restore, another MDA) are picked up with stable UIDs.
func TestOutsideChanges(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	inbox := userDir(root, "alice@example.org")
	for i := 0; i < 3; i++ {
		mustDeliver(t, s, "Subject: ours\r\n\r\n", "alice@example.org")
	}
	f := mustOpen(t, a, "INBOX", false)
	ms := mustMessages(t, f)
	if !equalUIDs(uidsOf(ms), []uint32{1, 2, 3}) {
		t.Fatal(uidsOf(ms))
	}
	names := files(t, inbox) // new/<3 names>

	// Another MDA drops a file into new/ (no S=/W=, CRLF inside).
	body := "Subject: dropped\r\n\r\nline\nline2\r\n"
	if err := os.WriteFile(filepath.Join(inbox, "new", "1700000000.X1.otherhost"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := changesUntil(t, f, func(c Changes) bool { return len(c.Added) > 0 })
	if len(c.Added) != 1 || c.Added[0].UID != 4 || c.Added[0].Size != int64(len(body)+1) {
		t.Fatalf("added %+v", c.Added)
	}
	if got, size := readMsg(t, f, 4); got != "Subject: dropped\r\n\r\nline\r\nline2\r\n" || size != int64(len(got)) {
		t.Fatalf("read %q %d", got, size)
	}

	// mutt moves message 1 from new/ to cur/ and marks it seen and
	// flagged; message 2 is moved to cur/ without flags.
	key1 := strings.TrimPrefix(names[0], "new/")
	uid1 := uidForName(t, s, key1)
	os.Rename(filepath.Join(inbox, names[0]), filepath.Join(inbox, "cur", key1+":2,FS"))
	key2 := strings.TrimPrefix(names[1], "new/")
	uid2 := uidForName(t, s, key2)
	os.Rename(filepath.Join(inbox, names[1]), filepath.Join(inbox, "cur", key2+":2,"))
	// A third program deletes message 3.
	key3 := strings.TrimPrefix(names[2], "new/")
	uid3 := uidForName(t, s, key3)
	os.Remove(filepath.Join(inbox, names[2]))

	c = changesUntil(t, f, func(c Changes) bool { return len(c.Flags) > 0 && len(c.Expunged) > 0 })
	if !equalUIDs(c.Expunged, []uint32{uid3}) {
		t.Fatalf("expunged %v, want %d", c.Expunged, uid3)
	}
	if len(c.Flags) != 1 || c.Flags[0].UID != uid1 || !equalStrings(c.Flags[0].Flags, []string{FlagFlagged, FlagSeen}) {
		t.Fatalf("flags %+v", c.Flags)
	}
	ms = mustMessages(t, f)
	if !equalUIDs(uidsOf(ms), sortedU(uid1, uid2, 4)) {
		t.Fatalf("uids %v", uidsOf(ms))
	}
	for _, m := range ms {
		if m.UID == uid2 && len(m.Flags) != 0 {
			t.Fatalf("uid2 flags %v", m.Flags)
		}
	}
	// Reading still works after the renames.
	if got, _ := readMsg(t, f, uid2); got != "Subject: ours\r\n\r\n" {
		t.Fatalf("%q", got)
	}
	// Our own flag change keeps other programs' info letters.
	os.Rename(filepath.Join(inbox, "cur", key2+":2,"), filepath.Join(inbox, "cur", key2+":2,a"))
	changesUntil(t, f, func(c Changes) bool { return true })
	eventually(t, "rename seen", func() bool {
		f.Messages()
		_, err := f.SetFlags([]uint32{uid2}, FlagsAdd, []string{FlagAnswered})
		_, statErr := os.Stat(filepath.Join(inbox, "cur", key2+":2,Ra"))
		return err == nil && statErr == nil
	})
	st, _ := a.Status("INBOX")
	if st.Messages != 3 || st.Unseen != 2 {
		t.Fatalf("status %+v", st)
	}
}

func sortedU(u ...uint32) []uint32 {
	for i := range u {
		for j := i + 1; j < len(u); j++ {
			if u[j] < u[i] {
				u[i], u[j] = u[j], u[i]
			}
		}
	}
	return u
}

func uidForName(t *testing.T, s *Maildir, name string) uint32 {
	t.Helper()
	u := s.users["alice@example.org"]
	u.mu.RLock()
	defer u.mu.RUnlock()
	key, _ := splitName(name)
	m := u.folders[inboxName].byKey[key]
	if m == nil {
		t.Fatalf("no message with key %s", key)
	}
	return m.uid
}

// The background watcher notices outside changes for handles in IDLE.
func TestWatcherNotifies(t *testing.T) {
	s, root := testStore(t, Options{PollInterval: 10 * time.Millisecond})
	a := mustAccount(t, s, "alice@example.org")
	f := mustOpen(t, a, "INBOX", true)
	mustMessages(t, f)
	drain(f)
	os.WriteFile(filepath.Join(userDir(root, "alice@example.org"), "new", "1.2.host"), []byte("x\n"), 0o600)
	select {
	case <-f.Notify():
	case <-time.After(10 * time.Second):
		t.Fatal("no notification of an outside delivery")
	}
	c, err := f.Changes()
	if err != nil || len(c.Added) != 1 || c.Added[0].UID != 1 {
		t.Fatalf("changes %+v %v", c, err)
	}
}

// Deliveries notify handles right away (no watcher needed).
func TestDeliverNotifies(t *testing.T) {
	s, _ := testStore(t, Options{})
	f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", true)
	mustMessages(t, f)
	drain(f)
	mustDeliver(t, s, "x\r\n", "alice@example.org")
	if !notified(f) {
		t.Fatal("not notified")
	}
}

// A folder removed underneath by another program: handles learn every
// message was expunged, then get ErrNoMailbox.
func TestOutsideFolderRemoval(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	mustAppend(t, a, "Archive", "a\r\n")
	f := mustOpen(t, a, "Archive", false)
	mustMessages(t, f)
	os.RemoveAll(filepath.Join(userDir(root, "alice@example.org"), ".Archive"))
	c, err := f.Changes()
	if err != nil || !equalUIDs(c.Expunged, []uint32{1}) {
		t.Fatalf("changes %+v %v", c, err)
	}
	if _, err := f.Changes(); !isErr(err, ErrNoMailbox) {
		t.Fatalf("err %v", err)
	}
	if _, err := a.Status("Archive"); !isErr(err, ErrNoMailbox) {
		t.Fatalf("status err %v", err)
	}
}

// Leftovers of a crashed writer in tmp/ are removed after 36 hours (by
// ctime, which tests cannot set: an old mtime alone must not count, since
// Append gives its file the internal date); fresh ones are not.
func TestTmpCleanup(t *testing.T) {
	s, dir := testStore(t, Options{})
	mustAccount(t, s, "alice@example.org")
	s.Close()
	tmp := filepath.Join(userDir(dir, "alice@example.org"), "tmp")
	os.WriteFile(filepath.Join(tmp, "old"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(tmp, "fresh"), []byte("x"), 0o600)
	os.MkdirAll(filepath.Join(tmp, "deleted-1", "cur"), 0o700)
	old := time.Now().Add(-37 * time.Hour)
	os.Chtimes(filepath.Join(tmp, "old"), old, old)
	s2 := openAt(t, dir, Options{})
	mustOpen(t, mustAccount(t, s2, "alice@example.org"), "INBOX", true)
	if got := tmpFiles(t, filepath.Dir(tmp)); !equalStrings(got, []string{"fresh", "old"}) {
		t.Fatalf("tmp/ holds %v", got)
	}
	// 37 hours on, both are leftovers.
	cleanTmp(tmp, time.Now().Add(37*time.Hour))
	if got := tmpFiles(t, filepath.Dir(tmp)); len(got) != 0 {
		t.Fatalf("tmp/ holds %v", got)
	}
}
