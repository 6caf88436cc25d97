package mailbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
)

// The store as the front ends use it, through the interfaces only: SMTP
// delivers, an IMAP session waits in IDLE and hears of it, a POP3 session
// removes the message, and the IMAP session sees it expunged.
func TestFrontEndFlow(t *testing.T) {
	var store mailbox.Store
	md, err := mailbox.Open(t.TempDir(), mailbox.Options{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hostname:     "mx.example.org",
		PollInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	store = md
	defer store.Close()

	imapAcct, err := store.Account("alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer imapAcct.Close()
	imap, err := imapAcct.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer imap.Close()
	if ms, err := imap.Messages(); err != nil || len(ms) != 0 {
		t.Fatal(ms, err)
	}

	idle := make(chan mailbox.Changes)
	go func() {
		<-imap.Notify()
		c, _ := imap.Changes()
		idle <- c
	}()
	msg := "From: bob@example.net\r\nSubject: hello\r\n\r\nHi Alice.\r\n"
	if err := store.Deliver(context.Background(), []string{"alice@example.org"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	var c mailbox.Changes
	select {
	case c = <-idle:
	case <-time.After(10 * time.Second):
		t.Fatal("IDLE session not woken")
	}
	if len(c.Added) != 1 || c.Added[0].Size != int64(len(msg)) || len(c.Added[0].Flags) != 0 {
		t.Fatalf("IDLE changes %+v", c)
	}
	uid := c.Added[0].UID

	popAcct, _ := store.Account("Alice@Example.org")
	defer popAcct.Close()
	pop, err := popAcct.Open("inbox", false)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := pop.Messages()
	rc, size, err := pop.Open(ms[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != msg || size != int64(len(msg)) {
		t.Fatalf("RETR %q %d", got, size)
	}
	if err := pop.Remove([]uint32{ms[0].UID}); err != nil {
		t.Fatal(err)
	}
	pop.Close()

	c, err = imap.Changes()
	if err != nil || len(c.Expunged) != 1 || c.Expunged[0] != uid {
		t.Fatalf("after POP3 QUIT: %+v %v", c, err)
	}
	if _, _, err := imap.Open(uid); !errors.Is(err, mailbox.ErrNoMessage) {
		t.Fatalf("open expunged: %v", err)
	}
	if _, _, err := imapAcct.Append("Nope", strings.NewReader("x"), nil, time.Time{}); !errors.Is(err, mailbox.ErrNoMailbox) {
		t.Fatalf("append to missing folder: %v", err)
	}
}
