package users

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fastParams keep argon2id cheap in tests that are not about hashing.
var fastParams = HashParams{Time: 1, MemoryKiB: 64, Threads: 1}

// logBuf is a goroutine-safe log sink for assertions on log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// openTestDB opens a FileDB on a new file in a temp dir, for the domains
// example.org and example.net.
func openTestDB(t *testing.T) (*FileDB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.db")
	return openAt(t, path), path
}

func openAt(t *testing.T, path string) *FileDB {
	t.Helper()
	f, err := OpenFile(path, FileOptions{
		Domains:    []string{"example.org", "Example.NET"},
		HashParams: fastParams,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustAddUser(t *testing.T, f *FileDB, addr, pw string) {
	t.Helper()
	if err := f.AddUser(addr, pw); err != nil {
		t.Fatalf("AddUser(%q): %v", addr, err)
	}
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logger returns a debug-level logger writing to b.
func logger(b *logBuf) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// storeAlias writes an alias straight into the file, past AddAlias's
// checks, as an older version or a hand edit may have left it.
func storeAlias(t *testing.T, f *FileDB, alias string, targets []string) {
	t.Helper()
	if err := f.update(func(d *db) error {
		d.aliases[alias] = targets
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
