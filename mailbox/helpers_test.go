package mailbox

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// testStore opens a store in a fresh directory. The background watcher is
// off unless opts asks for it, and the mtime window is short so outside
// changes are seen soon after they are made.
func testStore(t testing.TB, opts Options) (*Maildir, string) {
	t.Helper()
	dir := t.TempDir()
	return openAt(t, dir, opts), dir
}

func openAt(t testing.TB, dir string, opts Options) *Maildir {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = -1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Hostname == "" {
		opts.Hostname = "test.example"
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.window = 20 * time.Millisecond
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAccount(t testing.TB, s *Maildir, user string) Account {
	t.Helper()
	a, err := s.Account(user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func mustOpen(t testing.TB, a Account, name string, ro bool) Folder {
	t.Helper()
	f, err := a.Open(name, ro)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func mustDeliver(t testing.TB, s *Maildir, body string, users ...string) {
	t.Helper()
	if err := s.Deliver(context.Background(), users, strings.NewReader(body)); err != nil {
		t.Fatalf("deliver: %v", err)
	}
}

func mustAppend(t testing.TB, a Account, folder, body string, flags ...string) uint32 {
	t.Helper()
	_, uid, err := a.Append(folder, strings.NewReader(body), flags, time.Time{})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return uid
}

func mustMessages(t testing.TB, f Folder) []MessageInfo {
	t.Helper()
	ms, err := f.Messages()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func uidsOf(ms []MessageInfo) []uint32 {
	out := make([]uint32, len(ms))
	for i, m := range ms {
		out[i] = m.UID
	}
	return out
}

func readMsg(t testing.TB, f Folder, uid uint32) (string, int64) {
	t.Helper()
	rc, size, err := f.Open(uid)
	if err != nil {
		t.Fatalf("open uid %d: %v", uid, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), size
}

// files lists the message files of a Maildir's new/ and cur/ as
// "new/name" and "cur/name", sorted.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			out = append(out, sub+"/"+e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// tmpFiles lists the files in a Maildir's tmp/.
func tmpFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func userDir(root, user string) string {
	_, d, _ := userPath(root, user)
	return d
}

// eventually retries cond until it holds; the deadline only bounds a
// failing test.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// changesUntil polls Changes, merging results, until cond holds.
func changesUntil(t testing.TB, f Folder, cond func(Changes) bool) Changes {
	t.Helper()
	var all Changes
	eventually(t, "changes", func() bool {
		c, err := f.Changes()
		if err != nil {
			t.Fatal(err)
		}
		all.Added = append(all.Added, c.Added...)
		all.Flags = append(all.Flags, c.Flags...)
		all.Expunged = append(all.Expunged, c.Expunged...)
		return cond(all)
	})
	return all
}

func equalUIDs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isErr(err, target error) bool { return errors.Is(err, target) }
