package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func BenchmarkDeliver4KiB(b *testing.B) {
	s, _ := testStore(b, Options{})
	body := []byte("Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 64))[:4096]
	mustAccount(b, s, "alice@example.org")
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Deliver(context.Background(), []string{"alice@example.org"}, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// makeBigFolder writes n message files into a user's INBOX and an index
// naming them, as a long-lived server would have left them, with
// directory mtimes an hour old and recorded in the index.
func makeBigFolder(tb testing.TB, root string, n int) {
	tb.Helper()
	s := openAt(tb, root, Options{})
	mustAccount(tb, s, "alice@example.org")
	s.Close()
	dir := userDir(root, "alice@example.org")
	msgs := make([]*message, n)
	date := time.Unix(1700000000, 0).UTC()
	for i := range msgs {
		m := &message{uid: uint32(i + 1), inCur: true, disk: 10, size: 11, date: date, modseq: uint64(i + 2)}
		m.setName(fmt.Sprintf("%d.M%dP1Q%d.bench,S=10,W=11:2,S", 1700000000+i, i, i))
		if i%10 == 0 {
			m.flags.keywords = []string{"Work"}
		}
		m.cache()
		msgs[i] = m
		if err := os.WriteFile(filepath.Join(dir, "cur", m.name), []byte("Subject: x"), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, sub := range []string{"new", "cur"} {
		os.Chtimes(filepath.Join(dir, sub), old, old)
	}
	ns := old.UnixNano()
	fh, err := os.Create(filepath.Join(dir, indexFileName))
	if err != nil {
		tb.Fatal(err)
	}
	if err := writeSnapshot(fh, 1234, uint32(n+1), uint64(n+1), msgs, ns, ns); err != nil {
		tb.Fatal(err)
	}
	fh.Close()
}

// Loading a 100,000-message folder reads the index and stats two
// directories: no per-file stat, no directory scan.
func TestBigFolderLoadDoesNotScan(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 files")
	}
	root := t.TempDir()
	makeBigFolder(t, root, 100000)
	s := openAt(t, root, Options{})
	st, err := mustAccount(t, s, "alice@example.org").Status("INBOX")
	if err != nil || st.Messages != 100000 || st.UIDValidity != 1234 || st.Unseen != 0 {
		t.Fatalf("status %+v %v", st, err)
	}
	if f := s.users["alice@example.org"].folders[inboxName]; f.scans != 0 {
		t.Fatalf("%d scans on load", f.scans)
	}
	// One delivery appends one line; it does not rewrite the index.
	path := filepath.Join(userDir(root, "alice@example.org"), indexFileName)
	before, _ := os.Stat(path)
	mustDeliver(t, s, "x\r\n", "alice@example.org")
	after, _ := os.Stat(path)
	if grow := after.Size() - before.Size(); grow <= 0 || grow > 200 {
		t.Fatalf("index grew by %d bytes", grow)
	}
}

func BenchmarkIndexLoad100k(b *testing.B) {
	root := b.TempDir()
	makeBigFolder(b, root, 100000)
	s := openAt(b, root, Options{})
	u, err := s.user("alice@example.org")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u.mu.Lock()
		f, err := loadFolder(u, folderName{canon: inboxName})
		u.mu.Unlock()
		if err != nil || len(f.msgs) != 100000 || f.scans != 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkMessages100k(b *testing.B) {
	root := b.TempDir()
	makeBigFolder(b, root, 100000)
	s := openAt(b, root, Options{})
	f := mustOpen(b, mustAccount(b, s, "alice@example.org"), "INBOX", true)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ms, err := f.Messages()
		if err != nil || len(ms) != 100000 {
			b.Fatal(err)
		}
	}
}

// Changes on a quiet 100,000-message folder with 1,000 handles open.
func BenchmarkChanges1000Handles(b *testing.B) {
	root := b.TempDir()
	makeBigFolder(b, root, 100000)
	s := openAt(b, root, Options{})
	a := mustAccount(b, s, "alice@example.org")
	hs := make([]Folder, 1000)
	for i := range hs {
		hs[i] = mustOpen(b, a, "INBOX", true)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := hs[i%len(hs)].Changes(); err != nil {
			b.Fatal(err)
		}
	}
}
