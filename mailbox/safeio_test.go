package mailbox

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

var errInjected = errors.New("injected failure")

// failSync makes fsync fail for files whose path satisfies match.
func failSync(s *Maildir, match func(path string) bool, err error) {
	s.fs.Sync = func(f *os.File) error {
		if match(f.Name()) {
			return err
		}
		return f.Sync()
	}
}

// failPlacing makes the step that puts a staged message into its folder
// fail: the rename of a named file, the link of an anonymous one.
func failPlacing(s *Maildir) {
	s.fs.Rename = func(o, n string) error { return errInjected }
	s.fs.LinkFile = func(*os.File, string) error { return errInjected }
}

// forStaging runs test under name for both ways of staging a message:
// anonymous files (where this system has them) and named files in tmp/.
func forStaging(t *testing.T, name string, test func(t *testing.T, anon bool)) {
	t.Run(name+"/anonymous", func(t *testing.T) { test(t, true) })
	t.Run(name+"/tmp", func(t *testing.T) { test(t, false) })
}

func isMsgTmp(p string) bool {
	return filepath.Base(filepath.Dir(p)) == "tmp" && !strings.Contains(filepath.Base(p), "-")
}

func TestDeliverSeamFailures(t *testing.T) {
	cases := []struct {
		name  string
		users []string
		setup func(s *Maildir)
		want  error
	}{
		{"fsync message", []string{"alice@example.org"}, func(s *Maildir) {
			failSync(s, isMsgTmp, errInjected)
		}, errInjected},
		{"fsync message ENOSPC", []string{"alice@example.org"}, func(s *Maildir) {
			failSync(s, isMsgTmp, &os.PathError{Op: "sync", Path: "x", Err: syscall.ENOSPC})
		}, ErrNoSpace},
		{"fsync message EDQUOT", []string{"alice@example.org"}, func(s *Maildir) {
			failSync(s, isMsgTmp, syscall.EDQUOT)
		}, ErrOverQuota},
		{"fsync new dir", []string{"alice@example.org"}, func(s *Maildir) {
			failSync(s, func(p string) bool { return filepath.Base(p) == "new" }, errInjected)
		}, errInjected},
		{"rename", []string{"alice@example.org"}, failPlacing, errInjected},
		{"fsync index", []string{"alice@example.org"}, func(s *Maildir) {
			failSync(s, func(p string) bool { return filepath.Base(p) == indexFileName }, errInjected)
		}, errInjected},
		{"link to second user", []string{"alice@example.org", "bob@example.org"}, func(s *Maildir) {
			s.fs.Link = func(o, n string) error { return errInjected }
		}, errInjected},
		{"second user after first committed", []string{"alice@example.org", "bob@example.org"}, func(s *Maildir) {
			// alice is linked and committed, bob (last) takes the file by rename.
			s.fs.Rename = func(o, n string) error {
				if strings.Contains(n, "bob") {
					return errInjected
				}
				return os.Rename(o, n)
			}
		}, errInjected},
		{"index of second user", []string{"alice@example.org", "bob@example.org"}, func(s *Maildir) {
			failSync(s, func(p string) bool {
				return filepath.Base(p) == indexFileName && strings.Contains(p, "bob")
			}, errInjected)
		}, errInjected},
	}
	for _, tc := range cases {
		forStaging(t, tc.name, func(t *testing.T, anon bool) {
			s, root := testStore(t, Options{})
			s.anon = s.anon && anon
			// Accounts exist and hold one message each before the failure.
			for _, u := range tc.users {
				mustDeliver(t, s, "Subject: before\r\n\r\n", u)
			}
			handles := map[string]Folder{}
			for _, u := range tc.users {
				handles[u] = mustOpen(t, mustAccount(t, s, u), "INBOX", false)
				mustMessages(t, handles[u])
			}
			before := map[string][]string{}
			for _, u := range tc.users {
				before[u] = files(t, userDir(root, u))
			}
			tc.setup(s)
			err := s.Deliver(context.Background(), tc.users, strings.NewReader("Subject: lost\r\n\r\nbody\r\n"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			s.fs = realFS()
			for _, u := range tc.users {
				d := userDir(root, u)
				if got := files(t, d); !equalStrings(got, before[u]) {
					t.Fatalf("%s: files %v, want %v", u, got, before[u])
				}
				for _, tmp := range tmpFiles(t, d) {
					if !strings.HasPrefix(tmp, "index-") {
						t.Fatalf("%s: tmp/ has %s", u, tmp)
					}
				}
				ms := mustMessages(t, handles[u])
				if len(ms) != 1 || ms[0].UID != 1 {
					t.Fatalf("%s: messages %+v", u, ms)
				}
			}
			// The store still works, and UIDs handed out before are not
			// handed out again.
			mustDeliver(t, s, "Subject: after\r\n\r\n", tc.users...)
			for _, u := range tc.users {
				ms := mustMessages(t, handles[u])
				if len(ms) != 2 || ms[1].UID < 2 {
					t.Fatalf("%s: after: %+v", u, ms)
				}
				if got, _ := readMsg(t, handles[u], ms[1].UID); got != "Subject: after\r\n\r\n" {
					t.Fatalf("%s: %q", u, got)
				}
			}
		})
	}
}

func TestAppendSeamFailures(t *testing.T) {
	for _, which := range []string{"message", "dir", "index", "rename"} {
		forStaging(t, which, func(t *testing.T, anon bool) {
			s, root := testStore(t, Options{})
			s.anon = s.anon && anon
			a := mustAccount(t, s, "alice@example.org")
			dir := filepath.Join(userDir(root, "alice@example.org"), ".Drafts")
			switch which {
			case "message":
				failSync(s, isMsgTmp, syscall.ENOSPC)
			case "dir":
				failSync(s, func(p string) bool { return filepath.Base(p) == "cur" }, errInjected)
			case "index":
				failSync(s, func(p string) bool { return filepath.Base(p) == indexFileName }, errInjected)
			case "rename":
				failPlacing(s)
			}
			_, _, err := a.Append("Drafts", strings.NewReader("Subject: d\r\n\r\n"), []string{FlagDraft}, timeZero)
			if err == nil {
				t.Fatal("append succeeded")
			}
			if which == "message" && !errors.Is(err, ErrNoSpace) {
				t.Fatalf("err = %v, want ErrNoSpace", err)
			}
			s.fs = realFS()
			if fs := files(t, dir); len(fs) != 0 {
				t.Fatalf("files left: %v", fs)
			}
			st, err := a.Status("Drafts")
			if err != nil || st.Messages != 0 {
				t.Fatalf("status %+v %v", st, err)
			}
		})
	}
}

// A failing atomic write leaves the old content and no temporary file.
func TestWriteFileAtomicFailure(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o700)
	path := filepath.Join(dir, "file")
	os.WriteFile(path, []byte("old\n"), 0o600)
	for i, fs := range []fsOps{
		{safeio.FS{Sync: func(*os.File) error { return syscall.ENOSPC }, Rename: os.Rename, Link: os.Link}},
		{safeio.FS{Sync: (*os.File).Sync, Rename: func(o, n string) error { return errInjected }, Link: os.Link}},
		{safeio.FS{Sync: (*os.File).Sync, Rename: os.Rename, Link: os.Link}},
	} {
		err := fs.writeFileAtomic(path, tmp, "t", func(w io.Writer) error {
			if i == 2 {
				return errInjected // the writer itself fails
			}
			_, err := io.WriteString(w, "new\n")
			return err
		})
		if err == nil {
			t.Fatalf("case %d: no error", i)
		}
		if i == 0 && !errors.Is(err, ErrNoSpace) {
			t.Fatalf("case %d: %v", i, err)
		}
		if b, _ := os.ReadFile(path); string(b) != "old\n" {
			t.Fatalf("case %d: content %q", i, b)
		}
		if left := tmpFiles(t, dir); len(left) != 0 {
			t.Fatalf("case %d: tmp has %v", i, left)
		}
	}
}

// A failed compaction keeps the old index; the folder keeps working.
func TestCompactionFailureKeepsIndex(t *testing.T) {
	s, root := testStore(t, Options{CompactMin: 2})
	a := mustAccount(t, s, "alice@example.org")
	f := mustOpen(t, a, "INBOX", false)
	mustDeliver(t, s, "m1\r\n", "alice@example.org")
	s.fs.Rename = func(o, n string) error {
		if filepath.Base(n) == indexFileName {
			return errInjected
		}
		return os.Rename(o, n)
	}
	for i := 0; i < 4; i++ {
		mustDeliver(t, s, "more\r\n", "alice@example.org")
	}
	s.fs = realFS()
	d, err := readIndexFile(filepath.Join(userDir(root, "alice@example.org"), indexFileName))
	if err != nil || !d.headerOK || len(d.msgs) != 5 {
		t.Fatalf("index after failed compactions: %+v %v", d, err)
	}
	if ms := mustMessages(t, f); len(ms) != 5 {
		t.Fatalf("messages %+v", ms)
	}
}

// On Linux a message for one folder (a delivery to one user, an APPEND) is
// staged as an anonymous file and linked into place, so that nothing is
// created in tmp/ or renamed out of it; one for several users is staged
// in tmp/ and linked and renamed as before.
func TestStagingAnonymous(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("anonymous files are Linux's O_TMPFILE")
	}
	s, root := testStore(t, Options{})
	if !s.anon {
		t.Fatalf("anonymous files do not work in %s", root)
	}
	var linked, renamed, hardLinked int
	var mu sync.Mutex
	count := func(n *int) { mu.Lock(); *n++; mu.Unlock() }
	fs := realFS()
	fs.LinkFile = func(f *os.File, n string) error { count(&linked); return safeio.LinkFile(f, n) }
	fs.Rename = func(o, n string) error {
		if d := filepath.Base(filepath.Dir(n)); d == "new" || d == "cur" {
			count(&renamed)
		}
		return os.Rename(o, n)
	}
	fs.Link = func(o, n string) error { count(&hardLinked); return os.Link(o, n) }
	s.fs = fs

	mustDeliver(t, s, "Subject: one\r\n\r\n", "alice@example.org")
	a := mustAccount(t, s, "alice@example.org")
	if _, _, err := a.Append("INBOX", strings.NewReader("Subject: two\r\n\r\n"), nil, timeZero); err != nil {
		t.Fatal(err)
	}
	if linked != 2 || renamed != 0 || hardLinked != 0 {
		t.Fatalf("one folder each: %d anonymous links, %d renames, %d hard links; want 2, 0, 0", linked, renamed, hardLinked)
	}
	mustDeliver(t, s, "Subject: three\r\n\r\n", "alice@example.org", "bob@example.org")
	if linked != 2 || renamed != 1 || hardLinked != 1 {
		t.Fatalf("two users: %d anonymous links, %d renames, %d hard links; want 2, 1, 1", linked, renamed, hardLinked)
	}
	f := mustOpen(t, a, "INBOX", true)
	ms := mustMessages(t, f)
	if len(ms) != 3 {
		t.Fatalf("alice has %d messages", len(ms))
	}
	for i, want := range []string{"Subject: one\r\n\r\n", "Subject: two\r\n\r\n", "Subject: three\r\n\r\n"} {
		if got, _ := readMsg(t, f, ms[i].UID); got != want {
			t.Errorf("message %d: %q, want %q", i+1, got, want)
		}
	}
	if left := tmpFiles(t, userDir(root, "alice@example.org")); len(left) != 0 {
		t.Errorf("tmp/ holds %v", left)
	}
}
