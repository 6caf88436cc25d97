package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `queue retry` and `queue delete` reach a running queue through ctl/.
func TestRequests(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.RetryMin = time.Hour
	fail := true
	r.onRcpt = func(string) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if fail {
			return smtpErr(451, "4.3.0", "later")
		}
		return nil
	}
	q := w.open(true)
	dir := filepath.Join(w.dir, "queue")
	keep := w.submit(q, "bob@b.test")
	drop := w.submit(q, "carol@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+keep, "deferred=1")
	w.wantLog(`msg="delivery attempt"`, "id="+drop, "deferred=1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	ans, err := Request(ctx, dir, "delete", drop)
	if err != nil || ans != "deleted "+drop {
		t.Fatalf("delete: %q %v", ans, err)
	}
	if _, err := Request(ctx, dir, "delete", drop); err == nil || !strings.Contains(err.Error(), "no such message in the queue") {
		t.Errorf("second delete: %v", err)
	}
	r.mu.Lock()
	fail = false
	r.mu.Unlock()
	ans, err = Request(ctx, dir, "retry", "all")
	if err != nil || ans != "1 message(s) will be tried now" {
		t.Fatalf("retry: %q %v", ans, err)
	}
	got := r.waitReceived(1)
	waitEmpty(t, q)
	if len(got) != 1 || got[0].rcpts[0] != "bob@b.test" {
		t.Errorf("delivered %v", got)
	}
	if n := len(w.inbox("alice@a.test")); n != 0 {
		t.Errorf("a deleted message was bounced (%d notices)", n)
	}
	for _, bad := range [][2]string{{"retry", "../etc"}, {"delete", "all"}, {"bounce", "all"}} {
		if _, err := Request(ctx, dir, bad[0], bad[1]); err == nil {
			t.Errorf("request %q accepted", bad)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "ctl"))
	if len(ents) != 0 {
		t.Errorf("ctl/ not empty: %d files", len(ents))
	}
}

// Without a server the request times out with ErrNoServer and is taken
// back.
func TestRequestNoServer(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ctl"), 0o700)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Request(ctx, dir, "retry", "all"); !errors.Is(err, ErrNoServer) {
		t.Errorf("%v, want ErrNoServer", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "ctl")); len(ents) != 0 {
		t.Errorf("request left behind")
	}
}

// The offline functions, for a stopped server: List and Read show the
// state; RetryOffline and DeleteOffline change it for the next start.
func TestOffline(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.RetryMin = time.Hour
	r.onRcpt = func(to string) error {
		if to == "later@b.test" {
			return smtpErr(452, "4.2.2", "mailbox full")
		}
		return nil
	}
	q := w.open(true)
	a := w.submit(q, "ok@b.test", "later@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+a, "deferred=1")
	q.Close()
	b := w.submit(w.open(false), "other@b.test") // never started: never tried
	dir := filepath.Join(w.dir, "queue")

	recs, err := List(dir)
	if err != nil || len(recs) != 2 || recs[0].ID != a || recs[1].ID != b {
		t.Fatalf("List: %v %v", recs, err)
	}
	rcpts, attempts, next, lastErr := recs[0].Pending()
	if len(rcpts) != 1 || rcpts[0] != "later@b.test" || attempts != 1 || time.Until(next) < 50*time.Minute ||
		lastErr != "host mx.b.test said: 452 4.2.2 mailbox full (in reply to RCPT TO)" {
		t.Errorf("Pending: %q %d %v %q", rcpts, attempts, next, lastErr)
	}
	rec, hdr, err := Read(dir, a)
	if err != nil || rec.Rcpts[0].Status != StatusSent || !strings.Contains(string(hdr), "Subject: test\r\n") {
		t.Errorf("Read: %+v %q %v", rec, hdr, err)
	}
	if _, _, err := Read(dir, "NOPE"); !errors.Is(err, ErrNotQueued) {
		t.Errorf("Read of a missing id: %v", err)
	}
	if err := DeleteOffline(dir, b); err != nil {
		t.Fatal(err)
	}
	if err := DeleteOffline(dir, b); !errors.Is(err, ErrNotQueued) {
		t.Errorf("second delete: %v", err)
	}
	if n, err := RetryOffline(dir, "all"); n != 1 || err != nil {
		t.Errorf("RetryOffline: %d %v", n, err)
	}
	if _, err := RetryOffline(dir, "NOPE"); !errors.Is(err, ErrNotQueued) {
		t.Errorf("RetryOffline of a missing id: %v", err)
	}
	r.onRcpt = nil
	q2 := w.open(true)
	r.waitReceived(2)
	waitEmpty(t, q2)
	for _, m := range r.received() {
		if m.rcpts[0] == "other@b.test" {
			t.Error("a deleted message was sent")
		}
	}
}
