package smtpd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/smtpd/queue"
)

// withQueue gives submission a real outbound queue in a temp dir, not
// started (nothing leaves; tests look at what is queued).
func (e *env) withQueue(opts *Options) string {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), "queue")
	q, err := queue.Open(dir, queue.Options{Hostname: testHost, Store: e.store, Logger: e.log})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { q.Close() })
	opts.Outbound = q
	return dir
}

// authed is a submission client logged in as alice over STARTTLS.
func authed(t *testing.T, e *env, addr string) *smtp.Client {
	t.Helper()
	c := dialStartTLS(t, addr, e.clientTLS)
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.org", alicePass)); err != nil {
		t.Fatal(err)
	}
	return c
}

// RFC 6409 §6.1: the envelope sender must be one alice may use; anything
// else is refused at MAIL with 553 5.7.1.
func TestSubmissionSenderPolicy(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)
	c := authed(t, e, r.addr)
	for _, tc := range []struct {
		from string
		ok   bool
	}{
		{"bob@example.org", false},
		{"carol@example.net", false},
		{"alice@elsewhere.example", false},
		{"ALICE+news@Example.ORG", true}, // her subaddress, any case
		{"team@example.org", true},       // an alias that reaches her
		{"boss@example.org", true},
		{"", true}, // null sender (RFC 8098 §2.1 MDNs)
		{"alice@example.org", true},
	} {
		err := c.Mail(tc.from, nil)
		if tc.ok {
			if err != nil {
				t.Errorf("MAIL FROM:<%s>: %v", tc.from, err)
			}
			c.Reset()
			continue
		}
		wantErr(t, err, "553 5.7.1 Sender address rejected: not owned by the authenticated user")
	}
	e.wantLog(`msg="sender rejected"`, "from=bob@example.org", "user=alice@example.org", "not owned by the authenticated user")
	e.wantNoMail()
}

// sendData runs a transaction and returns the reply to the final dot
// ("250 ..." or the error's reply).
func sendData(t *testing.T, c *smtp.Client, from string, to []string, msg string) string {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	io.WriteString(w, msg)
	resp, err := w.CloseWithResponse()
	if err != nil {
		se, ok := err.(*smtp.SMTPError)
		if !ok {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return "250 " + resp.StatusText
}

// The From header field is held to the same policy: every address in it.
func TestSubmissionFromHeaderPolicy(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	qdir := e.withQueue(&opts)
	r := e.start(opts, false)
	c := authed(t, e, r.addr)
	for _, tc := range []struct {
		name, header, want string
	}{
		{"someone else", "From: Bob <bob@example.org>", "553 5.7.1 From header address rejected: not owned by the authenticated user"},
		{"one of two", "From: alice@example.org, mallory@evil.example", "553 5.7.1 From header address rejected: not owned by the authenticated user"},
		{"a second From field", "From: alice@example.org\r\nFrom: bob@example.org", "553 5.7.1 From header address rejected: not owned by the authenticated user"},
		{"unparseable", "From: <<<", "554 5.6.0 Malformed message header"},
		{"own, encoded name", "From: =?utf-8?q?Al=C3=AFce?= <Alice@Example.org>", "250 "},
		{"alias", "From: \"The Team\" <team@example.org>", "250 "},
		{"no From at all", "X-Note: none", "250 "},
		// Who else the message says sent it (RFC 5322 §3.6.2, §3.6.6).
		{"Sender of someone else", "From: alice@example.org\r\nSender: bob@example.org", "553 5.7.1 Sender header address rejected: not owned by the authenticated user"},
		{"Resent-From of someone else", "From: alice@example.org\r\nResent-From: bob@example.org", "553 5.7.1 Resent-From header address rejected: not owned by the authenticated user"},
		{"Resent-Sender of someone else", "From: alice@example.org\r\nResent-Sender: mallory@evil.example", "553 5.7.1 Resent-Sender header address rejected: not owned by the authenticated user"},
		{"own Sender and Resent-From", "From: team@example.org\r\nSender: alice@example.org\r\nResent-From: Alice <alice+x@example.org>", "250 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.inbox("bob@example.org"))
			msg := tc.header + "\r\nSubject: t\r\n\r\nbody\r\n"
			got := sendData(t, c, "alice@example.org", []string{"bob@example.org", "friend@elsewhere.example"}, msg)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("reply %q, want %q", got, tc.want)
			}
			after := len(e.inbox("bob@example.org"))
			if strings.HasPrefix(tc.want, "250") != (after == before+1) {
				t.Errorf("bob has %d messages, had %d", after, before)
			}
		})
	}
	recs, err := queue.List(qdir)
	if err != nil || len(recs) != 4 {
		t.Errorf("%d queued, want the 4 accepted (%v)", len(recs), err)
	}
	e.wantLog(`msg="message refused: From header"`, "user=alice@example.org", "mallory@evil.example")
	e.wantLog(`msg="message refused: From header"`, "Resent-Sender header address rejected", "mallory@evil.example")
}

// A message too big in its header alone is refused, and nothing stored.
func TestSubmissionHeaderTooBig(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.MaxMessageSize = 4 << 20
	r := e.start(opts, false)
	c := authed(t, e, r.addr)
	var b strings.Builder
	b.WriteString("From: alice@example.org\r\n")
	for b.Len() <= maxHeaderSection {
		b.WriteString("X-Filler: " + strings.Repeat("x", 900) + "\r\n")
	}
	b.WriteString("\r\nbody\r\n")
	if got := sendData(t, c, "alice@example.org", []string{"bob@example.org"}, b.String()); got != "552 5.3.4 Message header too big" {
		t.Errorf("reply %q", got)
	}
	e.wantNoMail()
}

// Remote recipients are queued, local ones delivered at once, in one
// transaction; the reply's id is the queue's. The queued copy has the
// Received field and no Return-Path (RFC 5321 §4.4).
func TestSubmissionQueuesRemote(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	qdir := e.withQueue(&opts)
	r := e.start(opts, false)
	c := authed(t, e, r.addr)
	msg := "From: Alice <alice@example.org>\r\nTo: bob@example.org, friend@elsewhere.example\r\nSubject: hi\r\n" +
		"Date: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <hi@example.org>\r\n\r\nhello\r\n"
	if err := c.Mail("alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, rc := range []string{"bob@example.org", "friend@elsewhere.example", "Other@Elsewhere.Example", "friend@elsewhere.example"} {
		if err := c.Rcpt(rc, nil); err != nil {
			t.Fatalf("RCPT %s: %v", rc, err)
		}
	}
	w, _ := c.Data()
	io.WriteString(w, msg)
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	id := queueID(t, resp.StatusText)
	got := e.inbox("bob@example.org")
	if len(got) != 1 {
		t.Fatalf("bob has %d messages", len(got))
	}
	if body := wantTrace(t, got[0].data, "<alice@example.org>", fromLocalhost, "ESMTPSA", id, ""); body != msg {
		t.Errorf("bob's copy %q", body)
	}
	rec, _, err := queue.Read(qdir, id)
	if err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	for _, rc := range rec.Rcpts {
		rcpts = append(rcpts, rc.Addr)
	}
	if rec.From != "alice@example.org" || rec.User != "alice@example.org" || !slices.Equal(rcpts, []string{"friend@elsewhere.example", "Other@elsewhere.example"}) {
		t.Errorf("queued %q from %q by %q", rcpts, rec.From, rec.User)
	}
	data, err := os.ReadFile(filepath.Join(qdir, "mail", id+".msg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "Received: from ") || !strings.HasSuffix(string(data), "\r\n\r\n"+"hello\r\n") ||
		strings.Contains(string(data), "Return-Path") || !strings.Contains(string(data), "\r\n"+msg) {
		t.Errorf("queued copy:\n%s", data)
	}
	e.wantLog(`msg=accepted`, "id="+id, "users=1", "queued=2")
}

// Local delivery fails after the remote copy was queued: the client gets
// the store's error and the queue gives the copy back (no duplicate when
// the client retries).
func TestSubmissionLocalFailureNothingQueued(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	qdir := e.withQueue(&opts)
	opts.Store = &failingStore{err: mailbox.ErrNoSpace}
	r := e.start(opts, false)
	c := authed(t, e, r.addr)
	got := sendData(t, c, "alice@example.org", []string{"bob@example.org", "friend@elsewhere.example"}, "From: alice@example.org\r\n\r\nx\r\n")
	if got != "452 4.3.1 Insufficient system storage" {
		t.Errorf("reply %q", got)
	}
	if recs, _ := queue.List(qdir); len(recs) != 0 {
		t.Errorf("%d messages queued after a failure", len(recs))
	}
}

// fakeOutbound fails like a full queue disk.
type fakeOutbound struct{ err error }

func (f fakeOutbound) Submit(_ context.Context, _ queue.Message, r io.Reader, _ queue.Local) (string, error) {
	io.Copy(io.Discard, r)
	return "", f.err
}

func TestSubmissionQueueFull(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.Outbound = fakeOutbound{fmt.Errorf("queue: write message: %w", queue.ErrNoSpace)}
	r := e.start(opts, false)
	c := authed(t, e, r.addr)
	if got := sendData(t, c, "alice@example.org", []string{"friend@elsewhere.example"}, "From: alice@example.org\r\n\r\nx\r\n"); got != "452 4.3.1 Insufficient system storage" {
		t.Errorf("reply %q", got)
	}
	opts.Outbound = fakeOutbound{fmt.Errorf("queue: rename: permission denied /srv/secret")}
	r = e.start(opts, false)
	c = authed(t, e, r.addr)
	if got := sendData(t, c, "alice@example.org", []string{"friend@elsewhere.example"}, "From: alice@example.org\r\n\r\nx\r\n"); got != "451 4.3.0 Temporary local problem, try again later" {
		t.Errorf("reply %q", got)
	}
}

// With CopyToSent, the message is filed in the sender's \Sent folder,
// seen; without it, not.
func TestSubmissionCopyToSent(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint(on), func(t *testing.T) {
			e := newEnv(t)
			opts := e.options(Submission)
			e.withQueue(&opts)
			opts.CopyToSent = on
			r := e.start(opts, false)
			c := authed(t, e, r.addr)
			msg := "From: alice@example.org\r\nSubject: copy\r\n\r\nbody\r\n"
			sendData(t, c, "alice@example.org", []string{"bob@example.org"}, msg)
			sendData(t, c, "alice@example.org", []string{"friend@elsewhere.example"}, msg)
			acct, err := e.store.Account("alice@example.org")
			if err != nil {
				t.Fatal(err)
			}
			defer acct.Close()
			st, err := acct.Status("Sent")
			if err != nil {
				t.Fatal(err)
			}
			want := uint32(0)
			if on {
				want = 2
			}
			if st.Messages != want || st.Unseen != 0 {
				t.Errorf("Sent holds %d (%d unseen), want %d, all seen", st.Messages, st.Unseen, want)
			}
		})
	}
}

// The inbound service never relays, queue or not.
func TestInboundNeverQueues(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	e.withQueue(&opts)
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	c.cmd("EHLO client.example")
	c.expectPrefix("MAIL FROM:<sender@remote.example>", "250 ")
	c.expect("RCPT TO:<victim@elsewhere.example>", "554 5.7.1 Relay access denied")
}

// A header field as long as the reader's buffer, or longer, must not end
// the header early: the From field after it is checked like any other
// (regression: a 4095- or 4096-octet field left its CRLF as a piece of its
// own, taken for the blank line, and a From after it went unchecked while
// receivers saw it). Lines of any length are read whole.
func TestSubmissionLongHeaderLineThenFrom(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	opts.MaxMessageSize = 4 << 20
	opts.MaxLineLength = 256 << 10 // the config's default is 8192: long fields do arrive
	e.withQueue(&opts)
	r := e.start(opts, false)
	c := authed(t, e, r.addr)
	lengths := []int{4094, 4095, 4096, 4097, 8191, 8192, 8193, 100 << 10}
	for _, n := range lengths {
		pad := "X-Pad: " + strings.Repeat("a", n-len("X-Pad: "))
		for _, where := range []string{"first", "after Subject"} {
			pre := ""
			if where != "first" {
				pre = "Subject: x\r\n"
			}
			t.Run(fmt.Sprintf("%d %s", n, where), func(t *testing.T) {
				before := len(e.inbox("bob@example.org"))
				msg := pre + pad + "\r\nFrom: bob@example.org\r\nTo: bob@example.org\r\n\r\nbody\r\n"
				got := sendData(t, c, "alice@example.org", []string{"bob@example.org"}, msg)
				if got != "553 5.7.1 From header address rejected: not owned by the authenticated user" {
					t.Fatalf("someone else's From after a %d-octet field: reply %q", n, got)
				}
				if after := len(e.inbox("bob@example.org")); after != before {
					t.Fatalf("bob has %d messages, had %d", after, before)
				}
				// Her own From after the same field is accepted, and
				// the field arrives whole.
				msg = pre + pad + "\r\nFrom: alice@example.org\r\nTo: bob@example.org\r\n\r\nbody\r\n"
				got = sendData(t, c, "alice@example.org", []string{"bob@example.org"}, msg)
				if !strings.HasPrefix(got, "250 ") {
					t.Fatalf("own From after a %d-octet field: reply %q", n, got)
				}
				in := e.inbox("bob@example.org")
				if len(in) != before+1 || !strings.Contains(in[len(in)-1].data, "\r\n"+pad+"\r\nFrom: alice@example.org\r\n") {
					t.Fatalf("stored message lacks the %d-octet field whole", n)
				}
			})
		}
	}
}
