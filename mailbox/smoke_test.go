package mailbox

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Deliver(context.Background(), []string{"alice@example.org", "Bob@example.org"}, strings.NewReader("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	a, err := s.Account("alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Open("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := f.Messages()
	if err != nil || len(ms) != 1 {
		t.Fatal(ms, err)
	}
	rc, size, err := f.Open(ms[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "Subject: hi\r\n\r\nbody\r\n" || size != int64(len(b)) {
		t.Fatalf("%q %d", b, size)
	}
	l, _ := a.List()
	t.Log(l)
	if _, err := f.SetFlags([]uint32{ms[0].UID}, FlagsAdd, []string{`\Deleted`, "foo"}); err != nil {
		t.Fatal(err)
	}
	ex, err := f.Expunge(nil)
	if err != nil || len(ex) != 1 {
		t.Fatal(ex, err)
	}
}
