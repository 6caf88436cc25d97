package mailbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCopy(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	date := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	if _, _, err := a.Append("INBOX", strings.NewReader("one\r\n"), []string{FlagFlagged, "Kw"}, date); err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, s, "two\r\n", "alice@example.org")
	mustDeliver(t, s, "three\r\n", "alice@example.org")
	src := mustOpen(t, a, "INBOX", false)
	mustMessages(t, src)
	trash := mustOpen(t, a, "Trash", true)
	mustMessages(t, trash)
	drain(trash)

	uv, srcU, dstU, err := src.Copy([]uint32{3, 1, 99, 1}, "Trash")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status("Trash")
	if uv != st.UIDValidity || !equalUIDs(srcU, []uint32{1, 3}) || !equalUIDs(dstU, []uint32{1, 2}) {
		t.Fatalf("copyuid %d %v %v", uv, srcU, dstU)
	}
	if !notified(trash) {
		t.Fatal("destination handle not notified")
	}
	c, _ := trash.Changes()
	if len(c.Added) != 2 || !equalStrings(c.Added[0].Flags, []string{"Kw", FlagFlagged}) || !c.Added[0].InternalDate.Equal(date) || c.Added[0].Size != 5 {
		t.Fatalf("trash changes %+v", c)
	}
	if body, _ := readMsg(t, trash, 2); body != "three\r\n" {
		t.Fatalf("%q", body)
	}
	if ms := mustMessages(t, src); len(ms) != 3 {
		t.Fatalf("source changed: %+v", ms)
	}
	// Hard links: the copy shares the file.
	tf := files(t, filepath.Join(userDir(root, "alice@example.org"), ".Trash"))
	if len(tf) != 2 || !strings.HasPrefix(tf[0], "cur/") || !strings.HasSuffix(tf[0], ":2,F") {
		t.Fatalf("trash files %v", tf)
	}
	// Copy into the same folder is reported to the handle as Added.
	_, _, dstU, _ = src.Copy([]uint32{2}, "INBOX")
	if c, _ := src.Changes(); len(c.Added) != 1 || c.Added[0].UID != dstU[0] || dstU[0] != 4 {
		t.Fatalf("self copy %+v %v", c, dstU)
	}
	if _, _, _, err := src.Copy([]uint32{1}, "Nope"); !errors.Is(err, ErrNoMailbox) {
		t.Fatal(err)
	}
	if _, _, _, err := src.Copy([]uint32{1}, "a.b"); !errors.Is(err, ErrBadName) {
		t.Fatal(err)
	}
}

func TestMove(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	for _, b := range []string{"one\r\n", "two\r\n", "three\r\n"} {
		mustDeliver(t, s, b, "alice@example.org")
	}
	src := mustOpen(t, a, "INBOX", false)
	other := mustOpen(t, a, "INBOX", true)
	mustMessages(t, src)
	mustMessages(t, other)
	_, srcU, dstU, err := src.Move([]uint32{1, 3}, "Archive")
	if err != nil || !equalUIDs(srcU, []uint32{1, 3}) || !equalUIDs(dstU, []uint32{1, 2}) {
		t.Fatalf("move %v %v %v", srcU, dstU, err)
	}
	// The mover does not hear its own expunges; others do.
	if c, _ := src.Changes(); !c.Empty() {
		t.Fatalf("mover %+v", c)
	}
	if c, _ := other.Changes(); !equalUIDs(c.Expunged, []uint32{1, 3}) {
		t.Fatalf("other %+v", c)
	}
	if fs := files(t, userDir(root, "alice@example.org")); len(fs) != 1 {
		t.Fatalf("inbox files %v", fs)
	}
	arch := mustOpen(t, a, "Archive", true)
	if body, _ := readMsg(t, arch, 2); body != "three\r\n" {
		t.Fatalf("%q", body)
	}
	if _, _, _, err := src.Move([]uint32{2}, "Nope"); !errors.Is(err, ErrNoMailbox) {
		t.Fatal(err)
	}
	if ms := mustMessages(t, src); len(ms) != 1 {
		t.Fatalf("failed move changed source: %+v", ms)
	}
}

// No observer sees a moved message in neither folder or in both.
func TestMoveAtomicForObservers(t *testing.T) {
	s, _ := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	const n = 40
	for i := 0; i < n; i++ {
		mustDeliver(t, s, "m\r\n", "alice@example.org")
	}
	src := mustOpen(t, a, "INBOX", false)
	mustMessages(t, src)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Look at both folders under the user's lock, as any
			// method does.
			u := s.users["alice@example.org"]
			u.mu.RLock()
			in := len(u.folders[inboxName].msgs)
			ar := 0
			if f := u.folders["Archive"]; f != nil {
				ar = len(f.msgs)
			}
			u.mu.RUnlock()
			if in+ar != n {
				select {
				case errs <- fmt.Sprintf("saw %d in INBOX + %d in Archive", in, ar):
				default:
				}
			}
		}
	}()
	for uid := uint32(1); uid <= n; uid++ {
		if _, _, _, err := src.Move([]uint32{uid}, "Archive"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
}

func TestExpungeAndRemove(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	for i := 0; i < 4; i++ {
		mustDeliver(t, s, "m\r\n", "alice@example.org")
	}
	f := mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	f.SetFlags([]uint32{1, 2, 3}, FlagsAdd, []string{FlagDeleted})
	// UID EXPUNGE of a subset: only those with \Deleted.
	if ex, err := f.Expunge([]uint32{2, 4}); err != nil || !equalUIDs(ex, []uint32{2}) {
		t.Fatalf("uid expunge %v %v", ex, err)
	}
	if ex, _ := f.Expunge(nil); !equalUIDs(ex, []uint32{1, 3}) {
		t.Fatalf("expunge %v", ex)
	}
	if ex, _ := f.Expunge(nil); len(ex) != 0 {
		t.Fatalf("second expunge %v", ex)
	}
	if err := f.Remove([]uint32{4, 99}); err != nil {
		t.Fatal(err)
	}
	if fs := files(t, userDir(root, "alice@example.org")); len(fs) != 0 {
		t.Fatalf("files %v", fs)
	}
	if _, _, err := f.Open(4); !errors.Is(err, ErrNoMessage) {
		t.Fatal(err)
	}
}

func TestSetFlagsOps(t *testing.T) {
	s, root := testStore(t, Options{})
	mustDeliver(t, s, "m\r\n", "alice@example.org")
	f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", false)
	mustMessages(t, f)
	step := func(op StoreOp, flags []string, want []string, wantSuffix string) {
		t.Helper()
		before := mustMessages(t, f)[0]
		infos, err := f.SetFlags([]uint32{1}, op, flags)
		if err != nil || len(infos) != 1 || !equalStrings(infos[0].Flags, want) {
			t.Fatalf("setflags %v: %+v %v, want %v", flags, infos, err, want)
		}
		changed := !equalStrings(before.Flags, want)
		if changed && infos[0].ModSeq <= before.ModSeq || !changed && infos[0].ModSeq != before.ModSeq {
			t.Fatalf("modseq %d -> %d (changed %v)", before.ModSeq, infos[0].ModSeq, changed)
		}
		fs := files(t, userDir(root, "alice@example.org"))
		if len(fs) != 1 || !strings.HasSuffix(fs[0], wantSuffix) {
			t.Fatalf("files %v, want suffix %q", fs, wantSuffix)
		}
	}
	step(FlagsAdd, []string{"Work"}, []string{"Work"}, ",W=3") // keyword only: stays in new/
	step(FlagsAdd, []string{FlagSeen, `\Flagged`}, []string{"Work", FlagFlagged, FlagSeen}, ":2,FS")
	step(FlagsAdd, []string{FlagSeen}, []string{"Work", FlagFlagged, FlagSeen}, ":2,FS") // no change
	step(FlagsRemove, []string{"work", FlagFlagged}, []string{FlagSeen}, ":2,S")
	step(FlagsReplace, []string{FlagDraft, FlagAnswered, FlagDeleted, "$Forwarded"}, []string{"$Forwarded", FlagAnswered, FlagDeleted, FlagDraft}, ":2,DPRT")
	step(FlagsReplace, nil, []string{}, ":2,")
	// Gone messages are left out.
	if infos, err := f.SetFlags([]uint32{7}, FlagsAdd, []string{FlagSeen}); err != nil || len(infos) != 0 {
		t.Fatal(infos, err)
	}
	if _, err := os.Stat(filepath.Join(userDir(root, "alice@example.org"), "tmp")); err != nil {
		t.Fatal(err)
	}
}
