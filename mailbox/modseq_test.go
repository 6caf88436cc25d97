package mailbox

import (
	"os"
	"path/filepath"
	"testing"
)

// RFC 7162 readiness (issue 3, point 7): every message has a modification
// sequence and the folder a HIGHESTMODSEQ; append, delivery, flag and
// keyword changes (ours or another program's) and expunges each raise it;
// nothing lowers it; a restart keeps every value, whether the index was
// compacted or is still a journal.
func TestModSeq(t *testing.T) {
	for _, compactMin := range []int{1, 100000} {
		s, root := testStore(t, Options{CompactMin: compactMin})
		a := mustAccount(t, s, "alice@example.org")
		highest := func() uint64 {
			t.Helper()
			st, err := a.Status("INBOX")
			if err != nil {
				t.Fatal(err)
			}
			return st.HighestModSeq
		}
		f := mustOpen(t, a, "INBOX", false)
		h0 := highest()
		mustDeliver(t, s, "Subject: 1\r\n\r\n", "alice@example.org")
		mustAppend(t, a, "INBOX", "Subject: 2\r\n\r\n", FlagSeen, "Work")
		mustDeliver(t, s, "Subject: 3\r\n\r\n", "alice@example.org")
		ms := mustMessages(t, f)
		h1 := highest()
		for i, m := range ms {
			if m.ModSeq <= h0 || m.ModSeq > h1 || (i > 0 && m.ModSeq <= ms[i-1].ModSeq) {
				t.Fatalf("appended modseqs %d..%d: %+v", h0, h1, ms)
			}
		}
		if ms[2].ModSeq != h1 {
			t.Fatalf("HIGHESTMODSEQ %d, newest message %d", h1, ms[2].ModSeq)
		}

		// A flag change raises the message's modseq above every other; a
		// STORE that changes nothing does not.
		got, err := f.SetFlags([]uint32{1}, FlagsAdd, []string{FlagFlagged})
		if err != nil || len(got) != 1 || got[0].ModSeq <= h1 || highest() != got[0].ModSeq {
			t.Fatalf("flag change: %+v %v (highest %d)", got, err, highest())
		}
		h2 := highest()
		if got, _ := f.SetFlags([]uint32{1}, FlagsAdd, []string{FlagFlagged}); got[0].ModSeq != h2 || highest() != h2 {
			t.Fatalf("no-op STORE changed modseq: %+v", got)
		}
		// Keywords live in the index only; they count all the same.
		got, _ = f.SetFlags([]uint32{2}, FlagsRemove, []string{"work"})
		if len(got) != 1 || got[0].ModSeq <= h2 || highest() != got[0].ModSeq {
			t.Fatalf("keyword change: %+v", got)
		}
		h3 := highest()

		// Another program renames a file (marks it seen): picked up with a
		// new modseq.
		dir := userDir(root, "alice@example.org")
		names := files(t, dir)
		var from string
		for _, n := range names {
			if filepath.Dir(n) == "new" {
				from = n // message 3, still in new/
			}
		}
		key, _ := splitName(filepath.Base(from))
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, "cur", key+":2,S")); err != nil {
			t.Fatal(err)
		}
		c := changesUntil(t, f, func(c Changes) bool { return len(c.Flags) > 0 })
		if c.Flags[0].UID != 3 || c.Flags[0].ModSeq <= h3 || highest() != c.Flags[0].ModSeq {
			t.Fatalf("outside flag change: %+v (highest %d)", c.Flags, highest())
		}
		h4 := highest()

		// Expunging the newest-changed message raises HIGHESTMODSEQ
		// although no message left carries the new value.
		f.SetFlags([]uint32{3}, FlagsAdd, []string{FlagDeleted})
		h5 := highest()
		if gone, err := f.Expunge(nil); err != nil || len(gone) != 1 {
			t.Fatalf("expunge %v %v", gone, err)
		}
		h6 := highest()
		if h5 <= h4 || h6 <= h5 {
			t.Fatalf("HIGHESTMODSEQ %d -> %d -> %d", h4, h5, h6)
		}
		before := mustMessages(t, f)
		f.Close()
		s.Close()

		// A restart keeps every value.
		s = openAt(t, root, Options{CompactMin: compactMin})
		a = mustAccount(t, s, "alice@example.org")
		f = mustOpen(t, a, "INBOX", false)
		after := mustMessages(t, f)
		if len(after) != len(before) {
			t.Fatalf("%d messages after restart, %d before", len(after), len(before))
		}
		for i := range after {
			if after[i].UID != before[i].UID || after[i].ModSeq != before[i].ModSeq {
				t.Fatalf("after restart (compactMin %d): %+v, before %+v", compactMin, after[i], before[i])
			}
		}
		if st, _ := a.Status("INBOX"); st.HighestModSeq != h6 {
			t.Fatalf("HIGHESTMODSEQ %d after restart (compactMin %d), %d before", st.HighestModSeq, compactMin, h6)
		}
		// And it goes on from there.
		mustDeliver(t, s, "Subject: 4\r\n\r\n", "alice@example.org")
		if st, _ := a.Status("INBOX"); st.HighestModSeq != h6+1 {
			t.Fatalf("HIGHESTMODSEQ %d after a delivery, want %d", st.HighestModSeq, h6+1)
		}
		s.Close()
	}
}
