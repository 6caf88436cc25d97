package mailbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type snapshot struct {
	uidValidity uint32
	uidNext     uint32
	msgs        []MessageInfo
}

func snap(t *testing.T, s *Maildir, user, folder string) snapshot {
	t.Helper()
	a, err := s.Account(user)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Open(folder, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := a.Status(folder)
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{f.UIDValidity(), st.UIDNext, mustMessages(t, f)}
}

func sameMessages(t *testing.T, got, want []MessageInfo, cmpModSeq bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.UID != w.UID || g.Size != w.Size || !g.InternalDate.Equal(w.InternalDate) || !equalStrings(g.Flags, w.Flags) || (cmpModSeq && g.ModSeq != w.ModSeq) {
			t.Fatalf("message %d: got %+v, want %+v", i, g, w)
		}
		_, go1 := g.InternalDate.Zone()
		_, wo := w.InternalDate.Zone()
		if go1 != wo {
			t.Fatalf("message %d: zone offset %d, want %d", i, go1, wo)
		}
	}
}

// fill makes a folder with a history: deliveries, appends with flags,
// keywords and dates, flag changes and expunges.
func fill(t *testing.T, s *Maildir, a Account) {
	t.Helper()
	for i := 0; i < 5; i++ {
		mustDeliver(t, s, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i), "alice@example.org")
	}
	date := time.Date(2020, 2, 3, 4, 5, 6, 0, time.FixedZone("", -5*3600))
	if _, _, err := a.Append("INBOX", strings.NewReader("Subject: appended\r\n\r\n"), []string{FlagSeen, "$Label1", "$Forwarded"}, date); err != nil {
		t.Fatal(err)
	}
	f, _ := a.Open("INBOX", false)
	defer f.Close()
	f.SetFlags([]uint32{2, 3}, FlagsAdd, []string{FlagDeleted, "Work"})
	f.Expunge([]uint32{2})
	f.SetFlags([]uint32{4}, FlagsReplace, []string{FlagAnswered})
}

func TestIndexSurvivesRestart(t *testing.T) {
	s, dir := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	fill(t, s, a)
	before := snap(t, s, "alice@example.org", "INBOX")
	drafts := snap(t, s, "alice@example.org", "Drafts")
	s.Close()

	s2 := openAt(t, dir, Options{})
	after := snap(t, s2, "alice@example.org", "INBOX")
	if after.uidValidity != before.uidValidity || after.uidNext != before.uidNext {
		t.Fatalf("uidvalidity/uidnext %d/%d, want %d/%d", after.uidValidity, after.uidNext, before.uidValidity, before.uidNext)
	}
	sameMessages(t, after.msgs, before.msgs, true)
	if d2 := snap(t, s2, "alice@example.org", "Drafts"); d2.uidValidity != drafts.uidValidity {
		t.Fatal("Drafts UIDVALIDITY changed")
	}
	// New UIDs continue above the old ones.
	mustDeliver(t, s2, "new\r\n", "alice@example.org")
	if got := snap(t, s2, "alice@example.org", "INBOX"); got.msgs[len(got.msgs)-1].UID != before.uidNext {
		t.Fatalf("next uid %d, want %d", got.msgs[len(got.msgs)-1].UID, before.uidNext)
	}
}

func TestIndexDeletedIsRebuilt(t *testing.T) {
	s, dir := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	fill(t, s, a)
	before := snap(t, s, "alice@example.org", "INBOX")
	s.Close()
	os.Remove(filepath.Join(userDir(dir, "alice@example.org"), indexFileName))

	s2 := openAt(t, dir, Options{})
	after := snap(t, s2, "alice@example.org", "INBOX")
	if after.uidValidity <= before.uidValidity {
		t.Fatalf("UIDVALIDITY %d not new (was %d)", after.uidValidity, before.uidValidity)
	}
	if len(after.msgs) != len(before.msgs) {
		t.Fatalf("%d messages, want %d", len(after.msgs), len(before.msgs))
	}
	// Every message is there, readable, with the flags of its file name.
	a2 := mustAccount(t, s2, "alice@example.org")
	f := mustOpen(t, a2, "INBOX", false)
	for _, m := range after.msgs {
		body, size := readMsg(t, f, m.UID)
		if !strings.HasPrefix(body, "Subject: ") || size != m.Size || int64(len(body)) != size {
			t.Fatalf("uid %d: %q %d", m.UID, body, size)
		}
	}
	var sys []string
	for _, m := range after.msgs {
		sys = append(sys, strings.Join(m.Flags, " "))
	}
	// Keywords other than $Forwarded live only in the index and are lost.
	want := []string{"", `\Deleted`, `\Answered`, "", `$Forwarded \Seen`}
	if !equalStrings(sys, want) {
		t.Fatalf("flags %q, want %q", sys, want)
	}
	// The rebuilt index is durable and used next time.
	s2.Close()
	s3 := openAt(t, dir, Options{})
	again := snap(t, s3, "alice@example.org", "INBOX")
	if again.uidValidity != after.uidValidity {
		t.Fatal("rebuilt index not kept")
	}
	sameMessages(t, again.msgs, after.msgs, true)
}

func TestIndexCorruptKeepsUIDs(t *testing.T) {
	for _, damage := range []string{"garbage line", "torn tail", "bad record", "lost tail records"} {
		t.Run(damage, func(t *testing.T) {
			s, dir := testStore(t, Options{})
			a := mustAccount(t, s, "alice@example.org")
			fill(t, s, a)
			before := snap(t, s, "alice@example.org", "INBOX")
			highest := s.users["alice@example.org"].folders[inboxName].find(6)
			highestName := highest.sub() + "/" + highest.name
			s.Close()
			path := filepath.Join(userDir(dir, "alice@example.org"), indexFileName)
			b, _ := os.ReadFile(path)
			lines := strings.SplitAfter(string(b), "\n")
			switch damage {
			case "garbage line":
				b = []byte(lines[0] + "\x00\x01 nonsense\n" + strings.Join(lines[1:], ""))
			case "torn tail":
				b = append(b, "A 99 9 c 12"...)
			case "bad record":
				// The record of one message is lost: it gets a new UID.
				for i, l := range lines {
					if strings.HasPrefix(l, "A 1 ") {
						lines[i] = "A 1 x\n"
					}
				}
				b = []byte(strings.Join(lines, ""))
			case "lost tail records":
				// The highest UID was handed out and expunged; both its
				// lines are lost. It must not be handed out again.
				var kept []string
				for _, l := range lines {
					if strings.HasPrefix(l, "A 6 ") || strings.HasPrefix(l, "X 6 ") {
						l = "??\n"
					}
					kept = append(kept, l)
				}
				b = []byte(strings.Join(kept, ""))
				os.Remove(filepath.Join(userDir(dir, "alice@example.org"), highestName))
			}
			os.WriteFile(path, b, 0o600)

			s2 := openAt(t, dir, Options{})
			after := snap(t, s2, "alice@example.org", "INBOX")
			if after.uidValidity != before.uidValidity {
				t.Fatalf("UIDVALIDITY changed %d -> %d", before.uidValidity, after.uidValidity)
			}
			switch damage {
			case "bad record":
				if after.msgs[len(after.msgs)-1].UID < before.uidNext {
					t.Fatalf("lost record not renumbered: %v", uidsOf(after.msgs))
				}
				sameMessages(t, after.msgs[:len(after.msgs)-1], before.msgs[1:], false)
			case "lost tail records":
				sameMessages(t, after.msgs, before.msgs[:len(before.msgs)-1], true)
				mustDeliver(t, s2, "new\r\n", "alice@example.org")
				if got := snap(t, s2, "alice@example.org", "INBOX"); got.msgs[len(got.msgs)-1].UID <= 6 {
					t.Fatalf("UID reused: %v", uidsOf(got.msgs))
				}
			default:
				sameMessages(t, after.msgs, before.msgs, true)
			}
			// The index was rewritten clean.
			d, _ := readIndexFile(path)
			if d.damaged {
				t.Fatal("index still damaged")
			}
		})
	}
}

// Compaction keeps the same state; the journal is bounded.
func TestIndexCompaction(t *testing.T) {
	s, dir := testStore(t, Options{CompactMin: 10})
	a := mustAccount(t, s, "alice@example.org")
	f := mustOpen(t, a, "INBOX", false)
	for i := 0; i < 30; i++ {
		mustDeliver(t, s, "x\r\n", "alice@example.org")
		f.SetFlags([]uint32{uint32(i + 1)}, FlagsAdd, []string{fmt.Sprintf("k%d", i%3)})
	}
	f.SetFlags([]uint32{1, 2, 3}, FlagsAdd, []string{FlagDeleted})
	f.Expunge(nil)
	before := snap(t, s, "alice@example.org", "INBOX")
	path := filepath.Join(userDir(dir, "alice@example.org"), indexFileName)
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n > 2*30+10 {
		t.Fatalf("index has %d lines: not compacted", n)
	}
	s.Close()
	s2 := openAt(t, dir, Options{})
	after := snap(t, s2, "alice@example.org", "INBOX")
	sameMessages(t, after.msgs, before.msgs, true)
	if after.uidNext != 31 {
		t.Fatalf("uidnext %d", after.uidNext)
	}
	st, _ := mustAccount(t, s2, "alice@example.org").Status("INBOX")
	if st.HighestModSeq < after.msgs[len(after.msgs)-1].ModSeq {
		t.Fatalf("highestmodseq %d", st.HighestModSeq)
	}
}

func TestUIDValidityNeverReused(t *testing.T) {
	s, dir := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	seen := map[uint32]bool{}
	for i := 0; i < 5; i++ {
		if err := a.Create("Tmp", ""); err != nil {
			t.Fatal(err)
		}
		st, _ := a.Status("Tmp")
		if seen[st.UIDValidity] {
			t.Fatalf("UIDVALIDITY %d reused", st.UIDValidity)
		}
		seen[st.UIDValidity] = true
		if err := a.Delete("Tmp"); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s2 := openAt(t, dir, Options{})
	a2 := mustAccount(t, s2, "alice@example.org")
	a2.Create("Tmp", "")
	st, _ := a2.Status("Tmp")
	if seen[st.UIDValidity] {
		t.Fatalf("UIDVALIDITY %d reused after restart", st.UIDValidity)
	}
}

// Moving a file from new/ to cur/ ourselves (first flag change) keeps its UID.
func TestNewToCurKeepsUID(t *testing.T) {
	s, root := testStore(t, Options{})
	mustDeliver(t, s, "x\r\n", "alice@example.org")
	f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", false)
	infos, err := f.SetFlags([]uint32{1}, FlagsAdd, []string{FlagSeen, "Important"})
	if err != nil || len(infos) != 1 || infos[0].UID != 1 {
		t.Fatal(infos, err)
	}
	fs := files(t, userDir(root, "alice@example.org"))
	if len(fs) != 1 || !strings.HasPrefix(fs[0], "cur/") || !strings.HasSuffix(fs[0], ":2,S") {
		t.Fatalf("files %v", fs)
	}
	if ms := mustMessages(t, f); len(ms) != 1 || ms[0].UID != 1 || !equalStrings(ms[0].Flags, []string{"Important", FlagSeen}) {
		t.Fatalf("%+v", ms)
	}
}

// Once a folder has been quiet for the mtime window and looked at again,
// the index records its directory mtimes and a restart does not scan.
func TestRestartWithoutScan(t *testing.T) {
	s, dir := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	fill(t, s, a)
	f := mustOpen(t, a, "INBOX", false)
	time.Sleep(3 * s.window) // let the mtimes age past the window
	mustMessages(t, f)       // rescans once and records them
	before := snap(t, s, "alice@example.org", "INBOX")
	s.Close()
	s2 := openAt(t, dir, Options{})
	s2.window = time.Nanosecond
	after := snap(t, s2, "alice@example.org", "INBOX")
	sameMessages(t, after.msgs, before.msgs, true)
	if n := s2.users["alice@example.org"].folders[inboxName].scans; n != 0 {
		t.Fatalf("%d scans after restart", n)
	}
}

// An index removed while the server runs is written whole again at the
// next change, keeping UIDVALIDITY and UIDs.
func TestIndexRemovedWhileRunning(t *testing.T) {
	s, dir := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	fill(t, s, a)
	os.Remove(filepath.Join(userDir(dir, "alice@example.org"), indexFileName))
	mustDeliver(t, s, "after\r\n", "alice@example.org")
	before := snap(t, s, "alice@example.org", "INBOX")
	s.Close()
	s2 := openAt(t, dir, Options{})
	after := snap(t, s2, "alice@example.org", "INBOX")
	if after.uidValidity != before.uidValidity {
		t.Fatal("UIDVALIDITY changed")
	}
	sameMessages(t, after.msgs, before.msgs, true)
}

// Callers appending to a MessageInfo's flags do not change anyone else's.
func TestFlagsSliceNotShared(t *testing.T) {
	s, _ := testStore(t, Options{})
	mustDeliver(t, s, "x\r\n", "alice@example.org")
	f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", false)
	f.SetFlags([]uint32{1}, FlagsAdd, []string{FlagSeen})
	ms := mustMessages(t, f)
	_ = append(ms[0].Flags, `\Recent`)
	if again := mustMessages(t, f); !equalStrings(again[0].Flags, []string{FlagSeen}) || cap(again[0].Flags) != len(again[0].Flags) {
		t.Fatalf("flags %v", again[0].Flags)
	}
}

// Without its header the index cannot say which UIDs were handed out: new
// UIDVALIDITY, messages numbered afresh, keywords and dates kept.
func TestIndexHeaderLost(t *testing.T) {
	s, dir := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	fill(t, s, a)
	before := snap(t, s, "alice@example.org", "INBOX")
	s.Close()
	path := filepath.Join(userDir(dir, "alice@example.org"), indexFileName)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append([]byte("mailsuite-uidlist 9 garbage\n"), b[strings.IndexByte(string(b), '\n')+1:]...), 0o600)
	s2 := openAt(t, dir, Options{})
	after := snap(t, s2, "alice@example.org", "INBOX")
	if after.uidValidity <= before.uidValidity {
		t.Fatalf("UIDVALIDITY %d, was %d", after.uidValidity, before.uidValidity)
	}
	if !equalUIDs(uidsOf(after.msgs), []uint32{1, 2, 3, 4, 5}) || after.uidNext != 6 {
		t.Fatalf("uids %v next %d", uidsOf(after.msgs), after.uidNext)
	}
	for i := range after.msgs {
		if !equalStrings(after.msgs[i].Flags, before.msgs[i].Flags) || !after.msgs[i].InternalDate.Equal(before.msgs[i].InternalDate) {
			t.Fatalf("message %d: %+v, was %+v", i, after.msgs[i], before.msgs[i])
		}
	}
}

// A rebuilt index numbers new files in delivery order, which their names
// give as numbers, not as text ("M99999" is before "M100000").
func TestDeliveredBefore(t *testing.T) {
	ordered := []string{
		"x-imported-by-hand", // no time in it: first
		"1733300000.M9P1Q9R00.host",
		"1733300000.M99999P1Q1R00.host",
		"1733300000.M100000P1Q2R00.host",
		"1733300000.M100000P1Q10R00.host",
		"1733300001.M5P1Q3R00.host",
		"1733300001.M5P1Q3R01.host",
	}
	for i := range ordered {
		for j := range ordered {
			if got := deliveredBefore(ordered[i], ordered[j]); got != (i < j) {
				t.Errorf("deliveredBefore(%q, %q) = %v", ordered[i], ordered[j], got)
			}
		}
	}
}
