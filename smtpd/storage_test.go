package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/mailsuite/mailsuite/mailbox"
)

// failingStore is a store whose Deliver reads the whole message, as the
// real one does, then fails with err. For failure injection only.
type failingStore struct {
	err error

	mu    sync.Mutex
	users []string
	data  string
}

func (f *failingStore) Deliver(_ context.Context, users []string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.users, f.data = users, string(b)
	f.mu.Unlock()
	return f.err
}

func (f *failingStore) Account(string) (mailbox.Account, error) { return nil, mailbox.ErrClosed }
func (f *failingStore) Close() error                            { return nil }

func TestStorageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no space", mailbox.ErrNoSpace, "452 4.3.1 Insufficient system storage"},
		{"no space, wrapped", fmt.Errorf("mailbox: write /srv/mail/x/tmp/123: %w", mailbox.ErrNoSpace), "452 4.3.1 Insufficient system storage"},
		{"over quota", fmt.Errorf("alice: %w", mailbox.ErrOverQuota), "452 4.2.2 Mailbox full"},
		{"too big for the store", mailbox.ErrTooBig, "552 5.3.4 Message too big"},
		{"closed", mailbox.ErrClosed, "451 4.3.0 Temporary local problem, try again later"},
		{"anything else", errors.New("open /srv/mail/secret/tmp: permission denied"), "451 4.3.0 Temporary local problem, try again later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			store := &failingStore{err: tc.err}
			opts := e.options(Inbound)
			opts.Store = store
			r := e.start(opts, false)
			c := dialRaw(t, r.addr, nil)
			c.cmd("EHLO client.example")
			c.expectPrefix("MAIL FROM:<sender@remote.example>", "250 ")
			c.expectPrefix("RCPT TO:<team@example.org>", "250 ")
			c.expectPrefix("RCPT TO:<alice@example.org>", "250 ")
			c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
			c.send("Subject: s\r\n\r\nbody")
			got := c.cmd(".")
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// The connection goes on.
			c.expect("NOOP", "250 2.0.0 I have successfully done nothing")
			store.mu.Lock()
			defer store.mu.Unlock()
			if strings.Join(store.users, ",") != "alice@example.org,bob@example.org" {
				t.Errorf("Deliver got users %q", store.users)
			}
			if !strings.HasSuffix(store.data, "\r\nSubject: s\r\n\r\nbody\r\n") {
				t.Errorf("Deliver got %q", store.data)
			}
			e.wantLog(`msg="delivery failed"`, "code="+got[:3], "err=")
		})
	}
}

// The reader's own errors (what go-smtp reports for the client) reach the
// client as go-smtp made them, even wrapped by the store.
func TestReplyMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("mailbox: %w", errAddrLiteral), "553 5.1.3 Address literals are not accepted as recipients"},
		{fmt.Errorf("copy: %w", replyTooBig), "552 5.3.4 Message too big"},
		{io.ErrUnexpectedEOF, "451 4.3.0 Temporary local problem, try again later"},
		{context.Canceled, "451 4.3.0 Temporary local problem, try again later"},
	} {
		r := reply(tc.err)
		got := ""
		if r != nil {
			got = fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
		}
		if got != tc.want {
			t.Errorf("reply(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	// Every reply is a fixed one-line text with an error code.
	for _, r := range replies {
		if strings.ContainsAny(r.reply.Message, "\r\n") || r.reply.Code < 400 || r.reply.Code >= 600 {
			t.Errorf("reply %d %q", r.reply.Code, r.reply.Message)
		}
	}
}
