package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// syncLog records, in order, the renames into INBOX's new/ (by the
// message's first line), the fsyncs of new/ and of the index, and the
// acknowledgements of Deliver.
type syncLog struct {
	mu  sync.Mutex
	seq []string
}

func (l *syncLog) add(ev string) {
	l.mu.Lock()
	l.seq = append(l.seq, ev)
	l.mu.Unlock()
}

// Concurrent deliveries into one INBOX share directory and journal fsyncs,
// and none is acknowledged before an fsync of new/ and of the index that
// began after its file was renamed into new/.
func TestGroupCommitDurableBeforeAck(t *testing.T) {
	s, root := testStore(t, Options{})
	mustAccount(t, s, "alice@example.org")
	inbox := userDir(root, "alice@example.org")
	newDir := filepath.Join(inbox, "new")
	index := filepath.Join(inbox, indexFileName)
	var log syncLog
	fs := realFS()
	fs.Rename = func(o, n string) error {
		if filepath.Dir(n) == newDir {
			b, _ := os.ReadFile(o)
			first, _, _ := strings.Cut(string(b), "\n")
			log.add("place " + first)
		}
		return os.Rename(o, n)
	}
	fs.LinkFile = func(f *os.File, n string) error {
		if filepath.Dir(n) == newDir {
			b, _ := os.ReadFile(safeio.FDPath(f))
			first, _, _ := strings.Cut(string(b), "\n")
			log.add("place " + first)
		}
		return safeio.LinkFile(f, n)
	}
	fs.Sync = func(f *os.File) error {
		switch f.Name() {
		case newDir:
			log.add("start new")
			time.Sleep(3 * time.Millisecond) // a slow disk: others arrive meanwhile
			err := f.Sync()
			log.add("end new")
			return err
		case index:
			log.add("start index")
			err := f.Sync()
			log.add("end index")
			return err
		}
		return f.Sync()
	}
	s.fs = fs

	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				mark := fmt.Sprintf("m-%d-%d", w, i)
				if err := s.Deliver(context.Background(), []string{"alice@example.org"}, strings.NewReader(mark+"\r\nbody\r\n")); err != nil {
					errs <- err
					return
				}
				log.add("ack " + mark)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// For each message: after "place m", a "start new" and later its
	// "end new", and a "start index" and its "end index", all before "ack m".
	placed := map[string]int{}
	dirSyncs := 0
	for i, ev := range log.seq {
		kind, mark, _ := strings.Cut(ev, " ")
		switch kind {
		case "place":
			placed[mark] = i
		case "start":
			if mark == "new" {
				dirSyncs++
			}
		case "ack":
			p, ok := placed[mark]
			if !ok {
				t.Fatalf("%s acknowledged but never placed", mark)
			}
			for _, what := range []string{"new", "index"} {
				if !syncedBetween(log.seq, p, i, what) {
					t.Fatalf("%s acknowledged without a whole fsync of %s after its rename", mark, what)
				}
			}
		}
	}
	if len(placed) != workers*each {
		t.Fatalf("%d placed, want %d", len(placed), workers*each)
	}
	if dirSyncs >= workers*each {
		t.Errorf("%d fsyncs of new/ for %d deliveries: no batching", dirSyncs, workers*each)
	}
	t.Logf("%d deliveries, %d fsyncs of new/", workers*each, dirSyncs)

	// A restart sees every message once, with distinct UIDs, each file whole.
	s.Close()
	s2 := openAt(t, root, Options{})
	f := mustOpen(t, mustAccount(t, s2, "alice@example.org"), "INBOX", true)
	ms := mustMessages(t, f)
	if len(ms) != workers*each {
		t.Fatalf("%d messages after restart, want %d", len(ms), workers*each)
	}
	seen := map[string]bool{}
	for k, m := range ms {
		if k > 0 && m.UID <= ms[k-1].UID {
			t.Fatalf("UIDs not ascending: %v", uidsOf(ms))
		}
		body, _ := readMsg(t, f, m.UID)
		first, rest, _ := strings.Cut(body, "\r\n")
		if rest != "body\r\n" || seen[first] {
			t.Fatalf("uid %d: %q (seen before: %v)", m.UID, body, seen[first])
		}
		seen[first] = true
	}
}

// syncedBetween reports whether seq holds "start what" after index from and
// its "end what" before index to.
func syncedBetween(seq []string, from, to int, what string) bool {
	for i := from + 1; i < to; i++ {
		if seq[i] != "start "+what {
			continue
		}
		for j := i + 1; j < to; j++ {
			if seq[j] == "end "+what {
				return true
			}
		}
	}
	return false
}

// A rescan while a delivery waits for its directory fsync (here: another
// program drops a file into new/ meanwhile, and a session looks) takes the
// dropped file but leaves the delivery to its batch: each message once.
func TestGroupCommitRescanInWindow(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	f := mustOpen(t, a, "INBOX", false)
	inbox := userDir(root, "alice@example.org")
	newDir := filepath.Join(inbox, "new")
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fs := realFS()
	fs.Sync = func(fh *os.File) error {
		if fh.Name() == newDir {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
		return fh.Sync()
	}
	s.fs = fs
	done := make(chan error, 1)
	go func() {
		done <- s.Deliver(context.Background(), []string{"alice@example.org"}, strings.NewReader("ours\r\n"))
	}()
	<-entered
	if err := os.WriteFile(filepath.Join(newDir, "1700000000.outside.host"), []byte("theirs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * s.window)
	c, err := f.Changes()
	if err != nil {
		t.Fatal(err)
	}
	ms := mustMessages(t, f)
	if len(ms) != 1 {
		t.Fatalf("during the delivery's fsync: %d messages (%+v, changes %+v), want only the dropped one", len(ms), ms, c)
	}
	if body, _ := readMsg(t, f, ms[0].UID); body != "theirs\r\n" {
		t.Fatalf("the message seen during the window is %q", body)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ms = mustMessages(t, f)
	var bodies []string
	for _, m := range ms {
		b, _ := readMsg(t, f, m.UID)
		bodies = append(bodies, b)
	}
	if len(ms) != 2 || ms[0].UID == ms[1].UID || bodies[0] != "theirs\r\n" || bodies[1] != "ours\r\n" {
		t.Fatalf("after the delivery: %+v %q", ms, bodies)
	}
	// The index on disk agrees after a restart.
	s.Close()
	s2 := openAt(t, root, Options{})
	f2 := mustOpen(t, mustAccount(t, s2, "alice@example.org"), "INBOX", true)
	if got := mustMessages(t, f2); !equalUIDs(uidsOf(got), uidsOf(ms)) {
		t.Fatalf("after restart %v, before %v", uidsOf(got), uidsOf(ms))
	}
}

// Deliveries from parallel sessions into one INBOX (what 8 SMTP sessions
// do); compare with BenchmarkDeliver4KiB for the gain of group commit.
func BenchmarkDeliver4KiBParallel8(b *testing.B) {
	s, _ := testStore(b, Options{})
	body := []byte("Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 64))[:4096]
	mustAccount(b, s, "alice@example.org")
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b.N; i += 8 {
				if err := s.Deliver(context.Background(), []string{"alice@example.org"}, bytes.NewReader(body)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A batch's leader waits for deliveries that have their whole message and
// are fsyncing it, so that one directory fsync covers them too; one that
// fails instead wakes the leader at once.
func TestGroupCommitGathersIncoming(t *testing.T) {
	defer func(d time.Duration) { gatherWait = d }(gatherWait)
	gatherWait = time.Minute // the test, not the clock, decides who joins

	for _, bFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("bFails=%v", bFails), func(t *testing.T) {
			s, root := testStore(t, Options{})
			mustAccount(t, s, "alice@example.org")
			newDir := filepath.Join(userDir(root, "alice@example.org"), "new")
			release := make(chan struct{})
			var mu sync.Mutex
			dirSyncs := 0
			fs := realFS()
			fs.Sync = func(f *os.File) error {
				if f.Name() == newDir {
					mu.Lock()
					dirSyncs++
					mu.Unlock()
					return f.Sync()
				}
				b, _ := os.ReadFile(safeio.FDPath(f))
				if strings.HasPrefix(string(b), "B") {
					<-release // B has its whole message and is counted
					if bFails {
						return errInjected
					}
				}
				return f.Sync()
			}
			s.fs = fs
			deliver := func(mark string, done chan<- error) {
				done <- s.Deliver(context.Background(), []string{"alice@example.org"}, strings.NewReader(mark+"\r\nbody\r\n"))
			}
			bDone, aDone := make(chan error, 1), make(chan error, 1)
			// mustOpen below made INBOX's state; B goes first.
			go deliver("B", bDone)
			us, err := s.user("alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "B counted as incoming", func() bool { return us.incoming.Load() == 1 })
			go deliver("A", aDone)
			eventually(t, "A leading and waiting for B", func() bool {
				us.mu.Lock()
				defer us.mu.Unlock()
				f := us.folders[inboxName]
				return f != nil && f.group.committing && f.group.open != nil && len(f.group.open.msgs) == 1
			})
			close(release)
			if err := <-aDone; err != nil {
				t.Fatalf("A: %v", err)
			}
			errB := <-bDone
			if bFails != (errB != nil) {
				t.Fatalf("B: %v", errB)
			}
			if dirSyncs != 1 {
				t.Errorf("%d fsyncs of new/, want 1 for the batch", dirSyncs)
			}
			if us.incoming.Load() != 0 {
				t.Errorf("incoming %d after both ended", us.incoming.Load())
			}
			want := 2
			if bFails {
				want = 1
			}
			f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", true)
			if ms := mustMessages(t, f); len(ms) != want {
				t.Errorf("%d messages, want %d", len(ms), want)
			}
		})
	}
}
