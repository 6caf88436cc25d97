package queue

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The remote is down, then comes up on the same port: the message is
// retried and delivered exactly once.
func TestRemoteDownThenUp(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	w.dns.setMX("b.test", "mx.b.test")
	w.dns.setHost("mx.b.test", "127.0.0.1")
	_, port, _ := net.SplitHostPort(addr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	w.opts.MXPort = p
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "code=4.4.1", "cannot connect to mx.b.test[127.0.0.1]")
	r := newRemote(t, remoteOpts{addr: addr})
	got := r.waitReceived(1)
	waitEmpty(t, q)
	time.Sleep(50 * time.Millisecond) // room for a wrong second delivery
	if got = r.received(); len(got) != 1 {
		t.Fatalf("delivered %d times, want once", len(got))
	}
	if len(w.inbox("alice@a.test")) != 0 {
		t.Error("a temporary failure was bounced")
	}
}

// A 4xx reply is retried with backoff; the 250 that follows ends it.
func TestTempFailureThen250(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	var mu sync.Mutex
	tries := 0
	r.onRcpt = func(string) error {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries <= 2 {
			return smtpErr(451, "4.7.1", "Greylisted, come back later")
		}
		return nil
	}
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	r.waitReceived(1)
	waitEmpty(t, q)
	w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "code=4.7.1",
		`reason="host mx.b.test said: 451 4.7.1 Greylisted, come back later (in reply to RCPT TO)"`)
	if tries != 3 || len(r.received()) != 1 {
		t.Errorf("%d tries, %d deliveries; want 3 and 1", tries, len(r.received()))
	}
}

// A 5xx to RCPT bounces that recipient at once: the DSN is a
// multipart/report in the sender's INBOX with the remote's answer.
func TestPermanentFailureBounces(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	r.onRcpt = func(to string) error {
		if to == "nobody@b.test" {
			return smtpErr(550, "5.1.1", "<nobody@b.test>: Recipient address rejected: User unknown")
		}
		return nil
	}
	q := w.open(true)
	id := w.submit(q, "bob@b.test", "nobody@b.test")
	got := r.waitReceived(1)
	if !slices.Equal(got[0].rcpts, []string{"bob@b.test"}) {
		t.Errorf("delivered to %q", got[0].rcpts)
	}
	d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
	waitEmpty(t, q)
	if len(d.fields) != 2 {
		t.Fatalf("%d recipient blocks, want 1 (only the failed one)", len(d.fields)-1)
	}
	f := d.fields[1]
	for k, v := range map[string]string{
		"Final-Recipient": "rfc822; nobody@b.test",
		"Action":          "failed",
		"Status":          "5.1.1",
		"Remote-MTA":      "dns; mx.b.test",
		"Diagnostic-Code": "smtp; 550 5.1.1 <nobody@b.test>: Recipient address rejected: User unknown",
	} {
		if got := f.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(oneLine(d.human), "<nobody@b.test>: host mx.b.test said: 550 5.1.1 <nobody@b.test>: Recipient address rejected: User unknown (in reply to RCPT TO)") {
		t.Errorf("explanation:\n%s", d.human)
	}
	if d.header.Get("To") != "<alice@a.test>" || d.header.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("header: %v", d.header)
	}
	w.wantLog(`msg="delivery attempt"`, "id="+id, "sent=1", "failed=1", "code=5.1.1")
	w.wantLog(`msg="failure notice delivered"`, "id="+id, "user=alice@a.test", "rcpts=1")
}

// One transaction, three fates: 250, 550 and 451. Only the deferred
// recipient is tried again, and it alone is named in the next attempt.
func TestMixedResults(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	var mu sync.Mutex
	later := 0
	r.onRcpt = func(to string) error {
		mu.Lock()
		defer mu.Unlock()
		switch to {
		case "gone@b.test":
			return smtpErr(550, "5.1.1", "no such user")
		case "later@b.test":
			later++
			if later == 1 {
				return smtpErr(452, "4.2.2", "mailbox full")
			}
		}
		return nil
	}
	q := w.open(true)
	w.submit(q, "ok@b.test", "gone@b.test", "later@b.test")
	got := r.waitReceived(2)
	waitEmpty(t, q)
	if !slices.Equal(got[0].rcpts, []string{"ok@b.test"}) || !slices.Equal(got[1].rcpts, []string{"later@b.test"}) {
		t.Errorf("deliveries: %q then %q", got[0].rcpts, got[1].rcpts)
	}
	in := w.inbox("alice@a.test")
	if len(in) != 1 {
		t.Fatalf("%d notices, want 1", len(in))
	}
	if f := parseDSN(t, in[0]).fields; len(f) != 2 || f[1].Get("Final-Recipient") != "rfc822; gone@b.test" {
		t.Errorf("the notice is not about gone@ alone")
	}
}

// Replies at DATA and at the end of data: 4xx is retried, 5xx bounced.
func TestDataReplies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		bounce bool
	}{
		{"554 at end of data", smtpErr(554, "5.7.1", "Message rejected as spam"), true},
		{"451 at end of data", smtpErr(451, "4.3.0", "Temporary failure"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			r := newRemote(t, remoteOpts{})
			w.to("b.test", r)
			var mu sync.Mutex
			n := 0
			r.onData = func([]string) error {
				mu.Lock()
				defer mu.Unlock()
				n++
				if n == 1 {
					return tc.err
				}
				return nil
			}
			q := w.open(true)
			id := w.submit(q, "bob@b.test")
			if tc.bounce {
				d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
				if got := d.fields[1].Get("Diagnostic-Code"); got != "smtp; 554 5.7.1 Message rejected as spam" {
					t.Errorf("Diagnostic-Code %q", got)
				}
				waitEmpty(t, q)
				if len(r.received()) != 0 {
					t.Error("delivered after a 554")
				}
				return
			}
			r.waitReceived(1)
			waitEmpty(t, q)
			w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "(in reply to end of data)")
			if len(w.inbox("alice@a.test")) != 0 {
				t.Error("a 451 was bounced")
			}
		})
	}
}

// A message still undelivered at the end of its lifetime is returned
// with RFC 3463's "delivery time expired" and the last error.
func TestLifetimeExpiry(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.Lifetime = 150 * time.Millisecond
	r.onRcpt = func(string) error { return smtpErr(450, "4.2.0", "try later") }
	q := w.open(true)
	start := time.Now()
	w.submit(q, "bob@b.test")
	d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
	waitEmpty(t, q)
	if time.Since(start) < w.opts.Lifetime {
		t.Errorf("bounced before the lifetime ended")
	}
	f := d.fields[1]
	if f.Get("Action") != "failed" || f.Get("Status") != "4.4.7" || f.Get("Diagnostic-Code") != "smtp; 450 4.2.0 try later" {
		t.Errorf("fields %q %q %q", f.Get("Action"), f.Get("Status"), f.Get("Diagnostic-Code"))
	}
	if !strings.Contains(oneLine(d.human), "<bob@b.test>: delivery time expired: not delivered after 150ms; last error: host mx.b.test said: 450 4.2.0 try later (in reply to RCPT TO)") {
		t.Errorf("explanation:\n%s", d.human)
	}
}

// The backoff doubles from RetryMin up to RetryMax.
func TestBackoff(t *testing.T) {
	q := &Queue{opts: Options{RetryMin: 5 * time.Minute, RetryMax: 4 * time.Hour}}
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, q.backoff(n))
	}
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute,
		160 * time.Minute, 4 * time.Hour, 4 * time.Hour}
	if !slices.Equal(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
	// The defaults are the issue's: 5m doubling to 4h, 5 days, 4h warning.
	o := Options{}.withDefaults()
	if o.RetryMin != 5*time.Minute || o.RetryMax != 4*time.Hour || o.Lifetime != 120*time.Hour || o.DelayWarning != 4*time.Hour {
		t.Errorf("defaults %v %v %v %v", o.RetryMin, o.RetryMax, o.Lifetime, o.DelayWarning)
	}
}

// The delay warning goes out once, as an RFC 3464 "delayed" report, and
// the message is still delivered afterwards.
func TestDelayWarning(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.DelayWarning = 60 * time.Millisecond
	var mu sync.Mutex
	warned := false
	r.onRcpt = func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if !warned {
			return smtpErr(451, "4.4.1", "not now")
		}
		return nil
	}
	q := w.open(true)
	w.submit(q, "bob@b.test")
	d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
	if d.header.Get("Subject") != "Delayed Mail (still being retried)" {
		t.Errorf("Subject %q", d.header.Get("Subject"))
	}
	f := d.fields[1]
	if f.Get("Action") != "delayed" || f.Get("Status") != "4.4.1" || f.Get("Will-Retry-Until") == "" {
		t.Errorf("fields %q %q %q", f.Get("Action"), f.Get("Status"), f.Get("Will-Retry-Until"))
	}
	time.Sleep(150 * time.Millisecond) // more failed attempts: no second warning
	mu.Lock()
	warned = true
	mu.Unlock()
	r.waitReceived(1)
	waitEmpty(t, q)
	if n := len(w.inbox("alice@a.test")); n != 1 {
		t.Errorf("%d notices, want the one warning", n)
	}
}

// A negative DelayWarning turns the warning off.
func TestDelayWarningOff(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.DelayWarning = -1
	w.opts.Lifetime = 200 * time.Millisecond
	r.onRcpt = func(string) error { return smtpErr(451, "4.4.1", "not now") }
	q := w.open(true)
	w.submit(q, "bob@b.test")
	in := w.waitInbox("alice@a.test", 1)
	waitEmpty(t, q)
	if len(in) != 1 || parseDSN(t, in[0]).fields[1].Get("Action") != "failed" {
		t.Errorf("want only the final failure notice, got %d messages", len(in))
	}
}

// RFC 5321 §6.1: never a bounce for a bounce. A message with the null
// sender that fails is dropped with a log line and no notice.
func TestNullSenderNeverBounced(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	r.onRcpt = func(string) error { return smtpErr(550, "5.1.1", "no") }
	q := w.open(true)
	id := w.submitFrom(q, "", "bob@b.test")
	waitEmpty(t, q)
	w.wantLog(`msg="failure not reported: null sender or no local user"`, "id="+id, "rcpt=bob@b.test")
	if got := r.received(); len(got) != 0 {
		t.Errorf("delivered: %v", got)
	}
	if n := len(w.inbox("alice@a.test")); n != 0 {
		t.Errorf("%d notices for a null-sender message", n)
	}
}

// A refused MAIL FROM decides for every recipient of the transaction:
// 5xx bounces them all, 4xx defers them all.
func TestMailFromRefused(t *testing.T) {
	for _, tc := range []struct {
		code   int
		enh    string
		bounce bool
	}{{550, "5.7.1", true}, {421, "4.7.0", false}} {
		t.Run(itoa(tc.code), func(t *testing.T) {
			w := newWorld(t)
			r := newRemote(t, remoteOpts{})
			w.to("b.test", r)
			w.opts.RetryMin = time.Hour
			r.onMail = func(string) error { return smtpErr(tc.code, tc.enh, "sender refused") }
			q := w.open(true)
			id := w.submit(q, "bob@b.test", "carol@b.test")
			if !tc.bounce {
				w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=2", "code="+tc.enh, "(in reply to MAIL FROM)")
				return
			}
			d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
			waitEmpty(t, q)
			if len(d.fields) != 3 || d.fields[1].Get("Status") != tc.enh || d.fields[2].Get("Diagnostic-Code") != "smtp; 550 5.7.1 sender refused" {
				t.Errorf("report: %v", d.fields)
			}
		})
	}
}
