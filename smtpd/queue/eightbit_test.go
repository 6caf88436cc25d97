package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

const (
	msg7bit = "From: <alice@a.test>\r\nTo: bob@b.test\r\nSubject: plain\r\n\r\nhello\r\n"
	msg8bit = "From: <alice@a.test>\r\nTo: bob@b.test\r\nSubject: accents\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n"
)

// submitRaw queues content for bob@b.test and returns its id.
func (w *world) submitRaw(q *Queue, content string) string {
	w.t.Helper()
	id, err := q.Submit(context.Background(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}},
		strings.NewReader(content), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// RFC 6152 §3: 8-bit data never goes to a server that did not advertise
// 8BITMIME; it is returned to the sender with 5.6.3 and the reason. A
// 7-bit message goes to the same server, without a BODY parameter. The
// body type is found once, at submission, and kept in the envelope.
func TestEightBitToServerWithout8BITMIME(t *testing.T) {
	w := newWorld(t)
	f := newFakeMTA(t, []string{"PIPELINING", "SIZE 10000000"}, 0)
	w.opts.Routes = map[string]string{"b.test": f.addr}
	q := w.open(false)
	id8 := w.submitRaw(q, msg8bit)
	id7 := w.submitRaw(q, msg7bit)
	recs, err := List(filepath.Join(w.dir, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]string{}
	for _, r := range recs {
		bodies[r.ID] = r.Body
	}
	if bodies[id8] != Body8BitMIME || bodies[id7] != Body7Bit {
		t.Fatalf("recorded body types %v, want %s: %s and %s: %s", bodies, id8, Body8BitMIME, id7, Body7Bit)
	}
	q.Start()
	f.waitRcpts(1)
	dsn := w.waitInbox("alice@a.test", 1)[0]
	waitEmpty(t, q)
	for _, want := range []string{"Final-Recipient: rfc822; bob@b.test", "Action: failed", "Status: 5.6.3",
		"does not support 8BITMIME", "contains 8-bit data", "not converted to 7-bit", "Subject: accents"} {
		if !strings.Contains(oneLine(dsn), want) {
			t.Errorf("the DSN lacks %q:\n%s", want, dsn)
		}
	}
	txs := f.transactions()
	if len(txs) != 1 || !strings.Contains(txs[0].data, "Subject: plain") {
		t.Fatalf("the server got %d messages, want only the 7-bit one", len(txs))
	}
	for _, l := range f.mailLines() {
		if strings.Contains(strings.ToUpper(l), "BODY=") {
			t.Errorf("MAIL with a BODY parameter to a server without 8BITMIME: %q", l)
		}
		if !strings.Contains(l, "alice@a.test") {
			t.Errorf("unexpected MAIL %q", l)
		}
	}
	if n := len(f.mailLines()); n != 1 {
		t.Errorf("%d MAIL commands, want 1 (the 8-bit message is refused before MAIL)", n)
	}
	w.wantLog(`msg="delivery attempt"`, "id="+id8, "failed=1", "code=5.6.3")
}

// RFC 6152 §2: BODY=8BITMIME is declared for 8-bit data, and only for it.
func TestEightBitDeclaredOnlyWhenNeeded(t *testing.T) {
	w := newWorld(t)
	f := newFakeMTA(t, []string{"8BITMIME", "SIZE 10000000"}, 0)
	w.opts.Routes = map[string]string{"b.test": f.addr}
	q := w.open(true)
	w.submitRaw(q, msg7bit)
	f.waitRcpts(1)
	waitEmpty(t, q)
	w.submitRaw(q, msg8bit)
	f.waitRcpts(2)
	waitEmpty(t, q)
	mails := f.mailLines()
	if len(mails) != 2 {
		t.Fatalf("MAIL commands %q, want 2", mails)
	}
	if strings.Contains(mails[0], "BODY=") || !strings.Contains(mails[0], "SIZE=") {
		t.Errorf("7-bit message: %q, want SIZE and no BODY", mails[0])
	}
	if !strings.Contains(mails[1], " BODY=8BITMIME") {
		t.Errorf("8-bit message: %q, want BODY=8BITMIME", mails[1])
	}
	if txs := f.transactions(); !strings.Contains(txs[1].data, "d\xc3\xa9j\xc3\xa0 vu") {
		t.Errorf("8-bit text changed on the way: %q", txs[1].data)
	}
	if len(w.inbox("alice@a.test")) != 0 {
		t.Error("a notification was sent")
	}
}
