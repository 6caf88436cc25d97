package queue

import (
	"testing"
	"time"
)

// The delay warning goes out when it is due, not at the next attempt:
// with the next attempt an hour away, it still comes after DelayWarning,
// and without another attempt being made.
func TestDelayWarningOnTime(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.DelayWarning = 100 * time.Millisecond
	w.opts.RetryMin = time.Hour
	w.opts.RetryMax = time.Hour
	r.onRcpt = func(string) error { return smtpErr(451, "4.4.1", "not now") }
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1")
	d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
	if d.header.Get("Subject") != "Delayed Mail (still being retried)" || d.fields[1].Get("Action") != "delayed" ||
		d.fields[1].Get("Status") != "4.4.1" {
		t.Errorf("warning: Subject %q, Action %q, Status %q", d.header.Get("Subject"), d.fields[1].Get("Action"), d.fields[1].Get("Status"))
	}
	if _, _, mails := r.stats(); mails != 1 {
		t.Errorf("%d attempts reached the remote, want 1 (the warning needs none)", mails)
	}
	w.wantLog(`msg="delay warning delivered"`, "id="+id)
	if q.Len() != 1 {
		t.Errorf("queue holds %d messages, want the one still being retried", q.Len())
	}
}

// A message delivered before its warning time gets no warning when that
// time comes.
func TestDelayWarningNotAfterDelivery(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.DelayWarning = 50 * time.Millisecond
	q := w.open(true)
	w.submit(q, "bob@b.test")
	r.waitReceived(1)
	waitEmpty(t, q)
	time.Sleep(150 * time.Millisecond) // past the warning time
	if n := len(w.inbox("alice@a.test")); n != 0 {
		t.Errorf("%d notices for a delivered message", n)
	}
}
