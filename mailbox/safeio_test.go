package mailbox

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
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
		{"rename", []string{"alice@example.org"}, func(s *Maildir) {
			s.fs.Rename = func(o, n string) error { return errInjected }
		}, errInjected},
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
		t.Run(tc.name, func(t *testing.T) {
			s, root := testStore(t, Options{})
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
		t.Run(which, func(t *testing.T) {
			s, root := testStore(t, Options{})
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
				s.fs.Rename = func(o, n string) error { return errInjected }
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
