package safeio

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

var errInjected = errors.New("injected")

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// recorder is an FS that logs its calls and fails the one named in fail.
func recorder(log *[]string, fail string) FS {
	real := OS()
	return FS{
		Sync: func(f *os.File) error {
			fi, _ := f.Stat()
			ev := "sync file"
			if fi != nil && fi.IsDir() {
				ev = "sync dir"
			}
			*log = append(*log, ev)
			if ev == fail {
				return syscall.ENOSPC
			}
			return real.Sync(f)
		},
		Rename: func(a, b string) error {
			*log = append(*log, "rename")
			if fail == "rename" {
				return errInjected
			}
			return real.Rename(a, b)
		},
		Link: real.Link,
	}
}

func TestWriteFileOrderAndMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	var log []string
	if err := recorder(&log, "").WriteFile(path, []byte("new\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if want := []string{"sync file", "rename", "sync dir"}; !slices.Equal(log, want) {
		t.Fatalf("calls %v, want %v", log, want)
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "new\n" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("content %q mode %v", b, fi.Mode())
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"f"}) {
		t.Fatalf("dir holds %v", names)
	}
}

// A failure before the rename leaves the old content and no temporary
// file; a failed directory fsync is reported with the new content in place.
func TestWriteFailures(t *testing.T) {
	for _, fail := range []string{"sync file", "rename", "writer", "sync dir"} {
		t.Run(fail, func(t *testing.T) {
			dir := t.TempDir()
			tmp := filepath.Join(dir, "tmp")
			os.Mkdir(tmp, 0o700)
			path := filepath.Join(dir, "f")
			os.WriteFile(path, []byte("old\n"), 0o600)
			var log []string
			err := recorder(&log, fail).WriteFunc(path, tmp, "t1", 0o600, func(w io.Writer) error {
				if fail == "writer" {
					return errInjected
				}
				_, err := io.WriteString(w, "new\n")
				return err
			})
			if err == nil {
				t.Fatal("no error")
			}
			switch fail {
			case "sync file", "sync dir":
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("error %v is not ENOSPC", err)
				}
			default:
				if !errors.Is(err, errInjected) {
					t.Fatalf("error %v is not the injected one", err)
				}
			}
			want := "old\n"
			if fail == "sync dir" {
				want = "new\n"
			}
			if b, _ := os.ReadFile(path); string(b) != want {
				t.Fatalf("content %q, want %q", b, want)
			}
			if left := dirNames(t, tmp); len(left) != 0 {
				t.Fatalf("tmp holds %v", left)
			}
		})
	}
}

func TestCreateTempExclusive(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), []byte("keep"), 0o600)
	if _, err := OS().CreateTemp(dir, "x", 0o600, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("CreateTemp over an existing name: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x")); string(b) != "keep" {
		t.Fatalf("existing file changed: %q", b)
	}
	p, err := OS().CreateTemp(dir, "", 0o600, nil)
	if err != nil || filepath.Dir(p) != dir {
		t.Fatalf("random temp %q: %v", p, err)
	}
}

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	os.WriteFile(path, []byte("a\n"), 0o600)
	var log []string
	if err := recorder(&log, "").Append(path, []byte("b\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "a\nb\n" || !slices.Equal(log, []string{"sync file"}) {
		t.Fatalf("content %q calls %v", b, log)
	}
	if err := recorder(&log, "sync file").Append(path, []byte("c\n")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("failed fsync: %v", err)
	}
	if err := OS().Append(filepath.Join(filepath.Dir(path), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("append to a missing file: %v", err)
	}
}

// TestOpen: the poller-free open gives a working *os.File with the flags
// asked for, and the errors os.OpenFile gives.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(p); string(b) != "one\ntwo\n" {
		t.Fatalf("after an append: %q", b)
	}
	if _, err := Open(filepath.Join(dir, "missing"), os.O_RDONLY, 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want not-exist", err)
	}
	if _, err := Open(p, os.O_RDONLY|syscall.O_DIRECTORY, 0); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("a file opened as a directory: %v, want ENOTDIR", err)
	}
	if _, err := Open(filepath.Join(dir, "new"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "new")); err != nil || st.Mode().Perm()&^0o640 != 0 {
		t.Fatalf("created file: %v, %v", st.Mode(), err)
	}
}
