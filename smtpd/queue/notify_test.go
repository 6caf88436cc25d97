package queue

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
)

// flakyStore fails its first n Deliver calls.
type flakyStore struct {
	mailbox.Store
	mu sync.Mutex
	n  int
}

func (s *flakyStore) Deliver(ctx context.Context, users []string, r io.Reader) error {
	s.mu.Lock()
	fail := s.n > 0
	s.n--
	s.mu.Unlock()
	if fail {
		io.Copy(io.Discard, r)
		return mailbox.ErrNoSpace
	}
	return s.Store.Deliver(ctx, users, r)
}

// A notice the store cannot take now is tried again (after RetryMin), and
// the message leaves the queue only once it is delivered.
func TestNoticeRetried(t *testing.T) {
	w := newWorld(t)
	w.opts.Store = &flakyStore{Store: w.store, n: 2}
	q := w.open(true)
	id := w.submit(q, "bob@b.test") // no MX, no A: fails at once
	w.wantLog(`msg="cannot deliver the failure notice; will try again"`, "id="+id, "no space left on device")
	in := w.waitInbox("alice@a.test", 1)
	waitEmpty(t, q)
	if len(in) != 1 {
		t.Errorf("%d notices", len(in))
	}
}

// A crash between recording a failure and delivering its notice: at the
// next start the notice goes out, once.
func TestNoticeAfterRestart(t *testing.T) {
	w := newWorld(t)
	q := w.open(false)
	id := w.submit(q, "bob@b.test")
	q.Close()
	dir := filepath.Join(w.dir, "queue")
	rec, _, err := Read(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	rec.Rcpts[0] = Rcpt{Addr: "bob@b.test", Status: StatusFailed, Attempts: 1, Code: "5.1.1",
		Reply: "550 5.1.1 no such user", Error: "host mx.b.test said: 550 5.1.1 no such user (in reply to RCPT TO)", Last: time.Now().UTC()}
	data, _ := rec.encode()
	if err := os.WriteFile(filepath.Join(dir, "mail", id+".env"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	q2 := w.open(true)
	d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
	waitEmpty(t, q2)
	if got := d.fields[1].Get("Diagnostic-Code"); got != "smtp; 550 5.1.1 no such user" {
		t.Errorf("Diagnostic-Code %q", got)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(w.inbox("alice@a.test")); n != 1 {
		t.Errorf("%d notices", n)
	}
}

// Mail nobody authenticated for (no User) is never bounced: there is no
// mailbox of ours to tell, and a bounce to an address that did not
// authenticate would be backscatter.
func TestNoUserNoNotice(t *testing.T) {
	w := newWorld(t)
	q := w.open(true)
	id, err := q.Submit(t.Context(), Message{From: "someone@elsewhere.test", Rcpts: []string{"bob@b.test"}},
		strings.NewReader("Subject: x\r\n\r\nx\r\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitEmpty(t, q)
	w.wantLog(`msg="failure not reported: null sender or no local user"`, "id="+id)
}

// parseRecord's refusals, each for its reason.
func TestParseRecordRefuses(t *testing.T) {
	good := func() *Record { return validRecord() }
	for _, tc := range []struct {
		name   string
		change func(r *Record)
		want   string
	}{
		{"version", func(r *Record) { r.Version = 2 }, "version 2, this program reads 1"},
		{"id", func(r *Record) { r.ID = "../x" }, `bad id "../x"`},
		{"sender with CRLF", func(r *Record) { r.From = "a@b\r\nRSET" }, "sender: control character in address"},
		{"sender with space", func(r *Record) { r.From = "a@b SIZE=1" }, "sender: space or angle bracket in address"},
		{"no creation time", func(r *Record) { r.Created = time.Time{} }, "no creation time"},
		{"negative size", func(r *Record) { r.Size = -1 }, "negative size"},
		{"not a DKIM field", func(r *Record) { r.DKIM = []string{"X-Evil: 1\r\n"} }, "dkim: not a DKIM-Signature: header field"},
		{"DKIM field with a bare LF", func(r *Record) { r.DKIM = []string{"DKIM-Signature: a\nBcc: x\r\n"} }, "dkim: bare LF in header field"},
		{"DKIM field injecting a header", func(r *Record) { r.DKIM = []string{"DKIM-Signature: a\r\nBcc: x\r\n"} }, "line break not followed by white space"},
		{"no recipients", func(r *Record) { r.Rcpts = nil }, "0 recipients"},
		{"recipient not an address", func(r *Record) { r.Rcpts[0].Addr = "bob" }, "recipient 0: address is not local@domain"},
		{"recipient too long", func(r *Record) { r.Rcpts[0].Addr = strings.Repeat("a", 600) + "@b" }, "recipient 0: address too long"},
		{"status", func(r *Record) { r.Rcpts[1].Status = "bounced" }, `recipient 1: unknown status "bounced"`},
		{"tls", func(r *Record) { r.Rcpts[1].TLS = "maybe" }, `recipient 1: unknown tls "maybe"`},
		{"code", func(r *Record) { r.Rcpts[1].Code = "6.0.0" }, `recipient 1: bad status code "6.0.0"`},
		{"reply with CR", func(r *Record) { r.Rcpts[1].Reply = "550\rx" }, "recipient 1: control characters or overlong text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.change(r)
			data, err := r.encode()
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseRecord(data)
			if !errors.Is(err, errRecord) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, raw := range []string{`{"v":1,"id":"X","extra":1}`, `{"v":1}{"v":1}`, strings.Repeat(" ", maxRecordSize+1)} {
		if _, err := parseRecord([]byte(raw)); !errors.Is(err, errRecord) {
			t.Errorf("%.40q accepted: %v", raw, err)
		}
	}
	if _, err := parseRecord(mustEncode(t, good())); err != nil {
		t.Errorf("the valid record: %v", err)
	}
}

func mustEncode(t *testing.T, r *Record) []byte {
	t.Helper()
	b, err := r.encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
