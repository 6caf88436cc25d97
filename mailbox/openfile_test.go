package mailbox

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// openMessage reads what is there and reports a missing file as os.Open
// does, so that openFile's rescan on ErrNotExist still happens.
func TestOpenMessage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "1.M1P1.host,S=6:2,S")
	if err := os.WriteFile(path, []byte("a: b\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openMessage(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || string(got) != "a: b\n\n" || f.Name() != path {
		t.Fatalf("read %q, %v, name %q", got, err, f.Name())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = openMessage(filepath.Join(dir, "gone"))
	var pe *os.PathError
	if !isNotExist(err) || !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "gone") || pe.Op != "open" {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := openMessage(dir + "/1.M1P1.host,S=6:2,S/x"); err == nil || isNotExist(err) {
		t.Fatalf("a path through a file: %v, want ENOTDIR", err)
	}
}
