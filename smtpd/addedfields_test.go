package smtpd

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailsuite/mailsuite/smtpd/queue"
)

// headerOf returns the header section of a stored or queued message.
func headerOf(msg string) string {
	h, _, _ := strings.Cut(msg, "\r\n\r\n")
	return h + "\r\n"
}

// fieldCount counts the fields named name (case-insensitive) in header.
func fieldCount(header, name string) int {
	n := 0
	for _, line := range strings.Split(header, "\r\n") {
		if f, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(f, name) {
			n++
		}
	}
	return n
}

// wantAdded checks that header has exactly one From, Date and Message-ID,
// the From being from and the Message-ID the one made of the queue id.
func wantAdded(t *testing.T, what, header, from, id string) {
	t.Helper()
	for _, name := range []string{"From", "Date", "Message-ID"} {
		if n := fieldCount(header, name); n != 1 {
			t.Errorf("%s: %d %s fields, want 1:\n%s", what, n, name, header)
		}
	}
	if !strings.Contains(header, "\r\nFrom: "+from+"\r\n") {
		t.Errorf("%s: no \"From: %s\":\n%s", what, from, header)
	}
	if !strings.Contains(header, "\r\nMessage-ID: <"+id+"@"+testHost+">\r\n") {
		t.Errorf("%s: no Message-ID made of the queue id %s:\n%s", what, id, header)
	}
	date := regexp.MustCompile(`\r\nDate: ([^\r]*)\r\n`).FindStringSubmatch(header)
	if date == nil {
		return
	}
	if when, err := time.Parse(time.RFC1123Z, date[1]); err != nil || time.Since(when) > time.Hour || time.Since(when) < -time.Minute {
		t.Errorf("%s: Date %q is not now (%v)", what, date[1], err)
	}
}

// RFC 6409 §8, RFC 5322 §3.6: a message submitted without From gets one
// naming the envelope sender, and Date and Message-ID when it lacks them,
// in the local copies, the Sent copy, the queued copy, and under the DKIM
// signature, which covers the added From.
func TestSubmissionAddsMissingFields(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Submission)
	keyDir := filepath.Join(t.TempDir(), "dkim")
	recs, err := queue.Keygen(keyDir, "example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	qdir := filepath.Join(t.TempDir(), "queue")
	q, err := queue.Open(qdir, queue.Options{Hostname: testHost, Store: e.store, Logger: e.log, DKIMDir: keyDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	opts.Outbound = q
	opts.CopyToSent = true
	r := e.start(opts, false)
	c := authed(t, e, r.addr)

	msg := "To: bob@example.org\r\nSubject: from a script\r\n\r\nhello\r\n"
	got := sendData(t, c, "alice+cron@example.org", []string{"bob@example.org", "friend@elsewhere.example"}, msg)
	if !strings.HasPrefix(got, "250 ") {
		t.Fatalf("reply %q", got)
	}
	id := queueID(t, strings.TrimPrefix(got, "250 "))

	in := e.inbox("bob@example.org")
	if len(in) != 1 {
		t.Fatalf("bob has %d messages", len(in))
	}
	wantAdded(t, "bob's copy", headerOf(in[0].data), "<alice+cron@example.org>", id)
	if !strings.HasSuffix(in[0].data, "\r\nTo: bob@example.org\r\nSubject: from a script\r\n\r\nhello\r\n") {
		t.Errorf("bob's copy does not end with the client's message:\n%s", in[0].data)
	}

	acct, err := e.store.Account("alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer acct.Close()
	sent, err := acct.Status("Sent")
	if err != nil || sent.Messages != 1 {
		t.Fatalf("Sent holds %d (%v)", sent.Messages, err)
	}

	data, err := os.ReadFile(filepath.Join(qdir, "mail", id+".msg"))
	if err != nil {
		t.Fatal(err)
	}
	wantAdded(t, "queued copy", headerOf(string(data)), "<alice+cron@example.org>", id)
	rec, _, err := queue.Read(qdir, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.DKIM) == 0 {
		t.Fatal("the queued copy is not signed")
	}
	signed := strings.Join(rec.DKIM, "") + string(data)
	zone := map[string]string{}
	for _, k := range recs {
		zone[k.Name()] = k.Value
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(signed), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := zone[name]; ok {
				return []string{v}, nil
			}
			return nil, errors.New("no TXT record " + name)
		},
	})
	if err != nil || len(vs) != len(rec.DKIM) {
		t.Fatalf("%d verifications of %d signatures: %v", len(vs), len(rec.DKIM), err)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "example.org" {
			t.Errorf("signature of %q: %v", v.Domain, v.Err)
		}
		// A verifier checks the From it shows: it must be signed.
		if !strings.Contains(strings.ToLower(strings.Join(v.HeaderKeys, ":")), "from") {
			t.Errorf("From not signed: h=%q", v.HeaderKeys)
		}
	}
	e.wantLog(`msg="header fields added"`, "id="+id, "fields=From,Date,Message-ID")
}

// Only what is missing is added; a complete header is left as it is.
func TestSubmissionAddsOnlyMissing(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)
	c := authed(t, e, r.addr)
	const (
		from  = "From: Alice <alice@example.org>\r\n"
		date  = "Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n"
		msgID = "Message-Id: <x@example.org>\r\n" // any case
	)
	for _, tc := range []struct {
		name, header string
		added        []string
	}{
		{"From only", from, []string{"Date", "Message-ID"}},
		{"no Date", from + msgID, []string{"Date"}},
		{"no Message-ID", date + from, []string{"Message-ID"}},
		{"complete", from + date + msgID, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.header + "Subject: s\r\n\r\nbody\r\n"
			got := sendData(t, c, "alice@example.org", []string{"bob@example.org"}, msg)
			if !strings.HasPrefix(got, "250 ") {
				t.Fatalf("reply %q", got)
			}
			in := e.inbox("bob@example.org")
			body := wantTrace(t, in[len(in)-1].data, "<alice@example.org>", fromLocalhost, "ESMTPSA", queueID(t, strings.TrimPrefix(got, "250 ")), "bob@example.org")
			before, ok := strings.CutSuffix(body, msg)
			if !ok {
				t.Fatalf("stored message does not end with the client's:\n%s", body)
			}
			var names []string
			for _, f := range strings.SplitAfter(before, "\r\n") {
				if name, _, ok := strings.Cut(f, ":"); ok {
					names = append(names, name)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.added, ",") {
				t.Errorf("added %q, want %q", names, tc.added)
			}
			for _, name := range []string{"From", "Date", "Message-ID"} {
				if n := fieldCount(headerOf(body), name); n != 1 {
					t.Errorf("%d %s fields", n, name)
				}
			}
		})
	}
}

// The null sender stays allowed (RFC 8098 MDNs, vacation replies), but
// the From policy applies to its header as to any other; without From,
// the one added names the authenticated user.
func TestSubmissionNullSenderFrom(t *testing.T) {
	e := newEnv(t)
	r := e.start(e.options(Submission), false)
	c := authed(t, e, r.addr)

	got := sendData(t, c, "", []string{"bob@example.org"}, "From: bob@example.org\r\nSubject: forged\r\n\r\nx\r\n")
	if got != "553 5.7.1 From header address rejected: not owned by the authenticated user" {
		t.Errorf("someone else's From with MAIL FROM:<>: reply %q", got)
	}
	if n := len(e.inbox("bob@example.org")); n != 0 {
		t.Fatalf("bob has %d messages", n)
	}

	got = sendData(t, c, "", []string{"bob@example.org"}, "From: boss@example.org\r\nSubject: Read: report\r\n\r\nx\r\n")
	if !strings.HasPrefix(got, "250 ") {
		t.Errorf("her alias as From with MAIL FROM:<>: reply %q", got)
	}

	got = sendData(t, c, "", []string{"bob@example.org"}, "Subject: Out of office\r\n\r\nx\r\n")
	if !strings.HasPrefix(got, "250 ") {
		t.Fatalf("no From with MAIL FROM:<>: reply %q", got)
	}
	in := e.inbox("bob@example.org")
	if len(in) != 2 {
		t.Fatalf("bob has %d messages, want 2", len(in))
	}
	id := queueID(t, strings.TrimPrefix(got, "250 "))
	body := wantTrace(t, in[1].data, "<>", fromLocalhost, "ESMTPSA", id, "bob@example.org")
	wantAdded(t, "null sender's message", "\r\n"+headerOf(body), "<alice@example.org>", id)
}
