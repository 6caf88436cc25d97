package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// fsLog records the durable-write calls of a queue, with a switch to make
// the n-th call of a kind fail.
type fsLog struct {
	mu     sync.Mutex
	events []string
	failOn map[string]int // "sync" or "rename" -> 1-based call number
	calls  map[string]int
}

func (l *fsLog) add(ev string) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *fsLog) ops() fsOps {
	real := realFS()
	l.calls = map[string]int{}
	fail := func(kind string) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.calls[kind]++
		return l.failOn[kind] == l.calls[kind]
	}
	return fsOps{safeio.FS{
		Sync: func(f *os.File) error {
			if fail("sync") {
				return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
			}
			l.add("sync " + filepath.Base(f.Name()))
			return real.Sync(f)
		},
		Rename: func(a, b string) error {
			if fail("rename") {
				return &os.LinkError{Op: "rename", Old: a, New: b, Err: syscall.ENOSPC}
			}
			l.add("rename " + filepath.Base(b))
			return real.Rename(a, b)
		},
	}}
}

func (l *fsLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// files lists the queue's mail/ and tmp/ directories.
func (w *world) files() (mail, tmp []string) {
	w.t.Helper()
	for _, d := range []struct {
		dir string
		out *[]string
	}{{"mail", &mail}, {"tmp", &tmp}} {
		ents, _ := os.ReadDir(filepath.Join(w.dir, "queue", d.dir))
		for _, e := range ents {
			*d.out = append(*d.out, e.Name())
		}
	}
	return mail, tmp
}

// Submit fsyncs the message and the envelope, renames the message into
// place before the envelope, and fsyncs the directory once, all before it
// returns.
func TestSubmitIsDurable(t *testing.T) {
	w := newWorld(t)
	q := w.open(false)
	l := &fsLog{}
	q.fs = l.ops()
	id := w.submit(q, "bob@b.test")
	want := []string{"sync " + id + ".msg", "sync " + id + ".env", "rename " + id + ".msg", "rename " + id + ".env", "sync mail"}
	if got := l.list(); !slices.Equal(got, want) {
		t.Errorf("durable steps %q, want %q", got, want)
	}
	mail, tmp := w.files()
	if !slices.Equal(mail, []string{id + ".env", id + ".msg"}) || len(tmp) != 0 {
		t.Errorf("mail/ %q, tmp/ %q", mail, tmp)
	}
	rec, _, err := Read(filepath.Join(w.dir, "queue"), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.From != "alice@a.test" || rec.User != "alice@a.test" || len(rec.Rcpts) != 1 ||
		rec.Rcpts[0] != (Rcpt{Addr: "bob@b.test", Status: StatusQueued}) || rec.Size != int64(len(testMsg("alice@a.test", []string{"bob@b.test"}))) {
		t.Errorf("record %+v", rec)
	}
}

// Any failing step of Submit leaves nothing queued and nothing in tmp/,
// and the error says what failed (ENOSPC as ErrNoSpace).
func TestSubmitStepFails(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		n       int
		noSpace bool
	}{
		{"sync", 1, false},  // the message
		{"sync", 2, false},  // the envelope
		{"rename", 1, true}, // the message into mail/
		{"rename", 2, true}, // the envelope into mail/
		{"sync", 3, false},  // the directory
	} {
		t.Run(tc.kind+itoa(tc.n), func(t *testing.T) {
			w := newWorld(t)
			q := w.open(false)
			l := &fsLog{failOn: map[string]int{tc.kind: tc.n}}
			q.fs = l.ops()
			_, err := q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}},
				strings.NewReader("Subject: x\r\n\r\nbody\r\n"), nil)
			if err == nil {
				t.Fatal("Submit succeeded")
			}
			if errors.Is(err, ErrNoSpace) != tc.noSpace {
				t.Errorf("ErrNoSpace: %v (%v)", errors.Is(err, ErrNoSpace), err)
			}
			mail, tmp := w.files()
			if len(mail) != 0 || len(tmp) != 0 || q.Len() != 0 {
				t.Errorf("left behind: mail/ %q, tmp/ %q, %d queued", mail, tmp, q.Len())
			}
		})
	}
}

// The reader's own error (the SMTP layer's size limit, a hang-up) comes
// back unchanged and nothing is queued.
func TestSubmitReaderError(t *testing.T) {
	w := newWorld(t)
	q := w.open(false)
	tooBig := errors.New("552 too big")
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), &errReader{tooBig})
	_, err := q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}}, r, nil)
	if err != tooBig {
		t.Errorf("error %v, want the reader's", err)
	}
	if mail, tmp := w.files(); len(mail)+len(tmp) != 0 {
		t.Errorf("left behind %q %q", mail, tmp)
	}
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

// When the local deliveries fail after the remote copy is queued, the
// queued copy is taken back (durably) and never sent: the client's retry
// must not make a duplicate.
func TestSubmitLocalFailureTakesBack(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	q := w.open(true)
	boom := errors.New("local store full")
	var seen string
	_, err := q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}},
		strings.NewReader("Subject: x\r\n\r\nbody\r\n"), func(open func() (io.ReadCloser, error)) error {
			rc, err := open()
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			seen = string(b)
			return boom
		})
	if err != boom {
		t.Fatalf("error %v, want the local one", err)
	}
	if seen != "Subject: x\r\n\r\nbody\r\n" {
		t.Errorf("local saw %q", seen)
	}
	time.Sleep(50 * time.Millisecond)
	if mail, tmp := w.files(); len(mail)+len(tmp) != 0 || q.Len() != 0 {
		t.Errorf("left behind %q %q", mail, tmp)
	}
	if len(r.received()) != 0 {
		t.Error("sent although Submit failed")
	}
}

// Without remote recipients the content is only spooled for local, then
// dropped.
func TestSubmitLocalOnly(t *testing.T) {
	w := newWorld(t)
	q := w.open(true)
	calls := 0
	_, err := q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test"},
		strings.NewReader("Subject: x\r\n\r\nbody\r\n"), func(open func() (io.ReadCloser, error)) error {
			for range 2 { // open twice, each from the start
				rc, _ := open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				if string(b) != "Subject: x\r\n\r\nbody\r\n" {
					t.Errorf("read %q", b)
				}
			}
			calls++
			return nil
		})
	if err != nil || calls != 1 {
		t.Fatalf("err %v, %d calls", err, calls)
	}
	if mail, tmp := w.files(); len(mail)+len(tmp) != 0 {
		t.Errorf("left behind %q %q", mail, tmp)
	}
}

// Each recipient's result is on disk, fsynced, before the worker moves
// on: here, before the next message's MAIL on the same connection.
func TestResultRecordedBeforeMovingOn(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.MaxConnectionsPerHost = 1
	w.opts.RetryMin = time.Hour
	q := w.open(false)
	l := &fsLog{}
	q.fs = l.ops()
	first := w.submit(q, "ok@b.test", "later@b.test")
	second := w.submit(q, "x@b.test")
	r.onRcpt = func(to string) error {
		if to == "later@b.test" {
			return smtpErr(451, "4.3.0", "later")
		}
		return nil
	}
	var atSecondMail []string
	var state Record
	r.onMail = func(string) error {
		r.mu.Lock()
		n := r.mails
		r.mu.Unlock()
		if n == 2 {
			atSecondMail = l.list()
			rec, err := readRecord(filepath.Join(w.dir, "queue", "mail"), first)
			if err != nil {
				t.Error(err)
			} else {
				state = *rec
			}
		}
		return nil
	}
	q.Start()
	r.waitReceived(2)
	w.wantLog(`msg="delivery attempt"`, "id="+second, "sent=1")
	if len(state.Rcpts) != 2 || state.Rcpts[0].Status != StatusSent || state.Rcpts[1].Status != StatusQueued ||
		state.Rcpts[1].Attempts != 1 || state.Rcpts[1].Reply != "451 4.3.0 later" {
		t.Errorf("at the next MAIL the file said %+v", state.Rcpts)
	}
	tail := atSecondMail[len(atSecondMail)-3:]
	if !strings.HasPrefix(tail[0], "sync "+first+".env.") || tail[1] != "rename "+first+".env" || tail[2] != "sync mail" {
		t.Errorf("the last durable steps before the next MAIL were %q", tail)
	}

	// A new queue on the same directory (a restart) sends only to the
	// recipient still queued.
	q.Close()
	r.onRcpt = nil
	q2 := w.open(true)
	if _, err := q2.Retry(first); err != nil {
		t.Fatal(err)
	}
	got := r.waitReceived(3)
	waitEmpty(t, q2)
	if !slices.Equal(got[2].rcpts, []string{"later@b.test"}) || len(r.received()) != 3 {
		t.Errorf("after the restart: %q (%d in all)", got[2].rcpts, len(r.received()))
	}
}

// When the result cannot be written, the running queue still never sends
// twice to a recipient that was accepted (its memory says so), and says
// in the log what a crash would cost.
func TestRecordWriteFails(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	q := w.open(false)
	id := w.submit(q, "ok@b.test", "later@b.test")
	l := &fsLog{failOn: map[string]int{"rename": 1}}
	q.fs = l.ops()
	var mu sync.Mutex
	n := 0
	r.onRcpt = func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		if to == "later@b.test" {
			n++
			if n == 1 {
				return smtpErr(451, "4.3.0", "later")
			}
		}
		return nil
	}
	q.Start()
	got := r.waitReceived(2)
	waitEmpty(t, q)
	w.wantLog(`msg="cannot record delivery result`, "id="+id)
	if !slices.Equal(got[1].rcpts, []string{"later@b.test"}) {
		t.Errorf("second attempt went to %q", got[1].rcpts)
	}
}

// At start, files of unfinished submissions go, temporary files go, and
// an envelope that cannot be read is moved to corrupt/ with its message.
func TestLoadCleansUp(t *testing.T) {
	w := newWorld(t)
	q := w.open(false)
	good := w.submit(q, "bob@b.test")
	q.Close()
	mail := filepath.Join(w.dir, "queue", "mail")
	os.WriteFile(filepath.Join(mail, "ORPHAN.msg"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(mail, "BAD.msg"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(mail, "BAD.env"), []byte(`{"v":1,"id":"BAD","created":"2026-01-01T00:00:00Z","rcpts":[{"addr":"x@y\r\nRSET","status":"queued"}]}`), 0o600)
	os.WriteFile(filepath.Join(mail, "NOMSG.env"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(w.dir, "queue", "tmp", "junk"), []byte("x"), 0o600)
	q2 := w.open(false)
	if q2.Len() != 1 {
		t.Errorf("%d queued, want 1", q2.Len())
	}
	files, tmp := w.files()
	if !slices.Equal(files, []string{good + ".env", good + ".msg"}) || len(tmp) != 0 {
		t.Errorf("mail/ %q tmp/ %q", files, tmp)
	}
	corrupt, _ := os.ReadDir(filepath.Join(w.dir, "queue", "corrupt"))
	var names []string
	for _, e := range corrupt {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"BAD.env", "BAD.msg", "NOMSG.env"}) {
		t.Errorf("corrupt/ %q", names)
	}
	w.wantLog(`msg="unreadable queue entry moved aside"`, "id=BAD", "control character in address")
	w.wantLog(`msg="removing message without envelope (submission never completed)"`, "id=ORPHAN")
}

// Shutdown waits for a running attempt; at its deadline it cuts the
// connection, and the message stays queued for the next start.
func TestShutdownCutsAttempt(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	r.dataDelay = 2 * time.Second
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	deadline := time.Now().Add(testTimeout)
	for {
		r.mu.Lock()
		busy := r.mails > 0
		r.mu.Unlock()
		if busy || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := q.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	rec, _, err := Read(filepath.Join(w.dir, "queue"), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Rcpts[0].Status != StatusQueued {
		t.Errorf("status %q after a cut attempt", rec.Rcpts[0].Status)
	}
	if _, err := q.Submit(t.Context(), Message{From: "a@a.test", Rcpts: []string{"b@b.test"}}, strings.NewReader("x\r\n"), nil); err == nil {
		t.Error("Submit accepted during shutdown")
	}
}

// Ids name files: a bad or duplicate one is refused.
func TestSubmitBadIDs(t *testing.T) {
	w := newWorld(t)
	q := w.open(false)
	id := w.submit(q, "bob@b.test")
	for _, bad := range []string{id, "../x", "a.b", strings.Repeat("A", 65)} {
		_, err := q.Submit(t.Context(), Message{ID: bad, From: "alice@a.test", Rcpts: []string{"bob@b.test"}}, strings.NewReader("x\r\n"), nil)
		if err == nil {
			t.Errorf("id %q accepted", bad)
		}
	}
	// A recipient that could inject into an SMTP command is refused.
	_, err := q.Submit(t.Context(), Message{From: "alice@a.test", Rcpts: []string{"bob@b.test> NOTIFY=NEVER"}}, strings.NewReader("x\r\n"), nil)
	if err == nil {
		t.Error("recipient with a space and '>' accepted")
	}
}
