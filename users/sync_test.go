package users

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two FileDBs on one file, used as two processes would use them, lose no
// update: every AddUser from either lands in the file.
func TestConcurrentAddUserSeparateInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	const instances, perInstance = 4, 15
	dbs := make([]*FileDB, instances)
	for i := range dbs {
		dbs[i] = openAt(t, path)
	}
	var wg sync.WaitGroup
	errs := make(chan error, instances*perInstance)
	for i, f := range dbs {
		for j := range perInstance {
			wg.Go(func() {
				errs <- f.AddUser(fmt.Sprintf("u%d-%d@example.org", i, j), "pw")
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fresh := openAt(t, path)
	got, err := fresh.ListUsers()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != instances*perInstance {
		t.Fatalf("%d users in the file, want %d: updates were lost", len(got), instances*perInstance)
	}
	// Every instance sees them all through its cached snapshot too.
	for i := range instances {
		for j := range perInstance {
			for _, g := range dbs {
				if _, err := g.Resolve(fmt.Sprintf("u%d-%d@example.org", i, j)); err != nil {
					t.Fatalf("instance misses u%d-%d: %v", i, j, err)
				}
			}
		}
	}
}

// The same across real processes: the test binary re-runs itself as a
// writer child.
func TestConcurrentAddUserProcesses(t *testing.T) {
	if os.Getenv("USERS_TEST_CHILD_PATH") != "" {
		return // in a child, this test itself does nothing
	}
	path := filepath.Join(t.TempDir(), "users.db")
	openAt(t, path)
	const children, perChild = 3, 10
	var wg sync.WaitGroup
	outs := make([][]byte, children)
	errs := make([]error, children)
	for c := range children {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildWriter$", "-test.count=1")
			cmd.Env = append(os.Environ(),
				"USERS_TEST_CHILD_PATH="+path,
				"USERS_TEST_CHILD_ID="+strconv.Itoa(c),
				"USERS_TEST_CHILD_N="+strconv.Itoa(perChild))
			outs[c], errs[c] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for c := range children {
		if errs[c] != nil {
			t.Fatalf("child %d: %v\n%s", c, errs[c], outs[c])
		}
	}
	got, err := openAt(t, path).ListUsers()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for c := range children {
		for j := range perChild {
			want = append(want, fmt.Sprintf("p%d-%d@example.org", c, j))
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("users after concurrent processes:\n%v\nwant:\n%v", got, want)
	}
}

// TestChildWriter is the child side of TestConcurrentAddUserProcesses.
func TestChildWriter(t *testing.T) {
	path := os.Getenv("USERS_TEST_CHILD_PATH")
	if path == "" {
		t.Skip("only run as a child of TestConcurrentAddUserProcesses")
	}
	id, n := os.Getenv("USERS_TEST_CHILD_ID"), os.Getenv("USERS_TEST_CHILD_N")
	count, _ := strconv.Atoi(n)
	f := openAt(t, path)
	for j := range count {
		mustAddUser(t, f, fmt.Sprintf("p%s-%d@example.org", id, j), "pw")
	}
}

// A change made through one instance is seen by another without Reload,
// including several changes in quick succession of the same size (a
// password change keeps the file's length; the mtime bump tells them apart).
func TestChangeVisibleToOtherInstance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	server, cli := openAt(t, path), openAt(t, path)
	ctx := t.Context()
	if _, err := server.Resolve("alice@example.org"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("before: %v", err)
	}
	mustAddUser(t, cli, "alice@example.org", "pw0")
	if got, err := server.Resolve("alice@example.org"); err != nil || got[0] != "alice@example.org" {
		t.Fatalf("server does not see the new user: %v, %v", got, err)
	}
	for i := 1; i <= 20; i++ {
		pw := "pw" + strconv.Itoa(i%10)
		if err := cli.SetPassword("alice@example.org", pw); err != nil {
			t.Fatal(err)
		}
		if _, err := server.Authenticate(ctx, "alice@example.org", pw); err != nil {
			t.Fatalf("change %d not seen by the other instance: %v", i, err)
		}
	}
	if err := cli.AddAlias("a@example.org", []string{"alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Resolve("a@example.org"); err != nil {
		t.Fatalf("alias not seen: %v", err)
	}
	if err := cli.DeleteUser("alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Authenticate(ctx, "alice@example.org", "pw0"); err != ErrAuthFailed {
		t.Fatalf("deleted user still logs in on the other instance: %v", err)
	}
}

// A broken hand edit is logged once and the last good version stays in
// use; Reload reports it; fixing the file brings the new version in.
func TestBrokenFileKeepsLastGood(t *testing.T) {
	var logs logBuf
	path := filepath.Join(t.TempDir(), "users.db")
	f, err := OpenFile(path, FileOptions{Domains: []string{"example.org"}, HashParams: fastParams, Logger: logger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	mustAddUser(t, f, "alice@example.org", "pw")
	good := readBytes(t, path)
	if err := os.WriteFile(path, []byte(`{"version": 1, "users": {`), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := f.Resolve("alice@example.org"); err != nil {
			t.Fatalf("last good version not used: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "cannot be loaded"); n != 1 {
		t.Errorf("%d log lines for the broken file, want 1:\n%s", n, logs.String())
	}
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "users file is not valid") {
		t.Errorf("Reload of a broken file = %v", err)
	}
	fixed := strings.Replace(string(good), `"aliases": {}`, `"aliases": {"info@example.org": ["alice@example.org"]}`, 1)
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Resolve("info@example.org"); err != nil {
		t.Errorf("fixed file not picked up: %v", err)
	}
}

func TestDeletedFileIsEmpty(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Authenticate(t.Context(), "alice@example.org", "pw"); err != ErrAuthFailed {
		t.Fatalf("user of a deleted file logs in: %v", err)
	}
	// The next change recreates it.
	mustAddUser(t, f, "bob@example.org", "pw")
	if got, _ := f.ListUsers(); !slices.Equal(got, []string{"bob@example.org"}) {
		t.Fatalf("after recreate: %v", got)
	}
}

func TestReloadPicksUpChange(t *testing.T) {
	f, path := openTestDB(t)
	other := openAt(t, path)
	mustAddUser(t, other, "alice@example.org", "pw")
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	f.mu.RLock()
	_, ok := f.cur.users["alice@example.org"]
	f.mu.RUnlock()
	if !ok {
		t.Fatal("Reload did not read the new user")
	}
}

// writeAtomic makes each version's mtime later than the one it replaces,
// even when the clock says otherwise, so that a reader comparing stat
// signatures cannot mistake a new version (with a reused inode and the same
// size) for the old one.
func TestWriteAtomicMtimeIsMonotonic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := writeAtomic(path, []byte("one"), fileSig{}); err != nil {
		t.Fatal(err)
	}
	prev, err := statSig(path)
	if err != nil {
		t.Fatal(err)
	}
	// Pretend the previous version was written an hour from now (a clock
	// step back, or a coarse clock): the new one must still be later.
	future := prev
	future.mtime += int64(time.Hour)
	if err := writeAtomic(path, []byte("two"), future); err != nil {
		t.Fatal(err)
	}
	now, err := statSig(path)
	if err != nil {
		t.Fatal(err)
	}
	if now.mtime <= future.mtime {
		t.Fatalf("new mtime %d not after previous %d", now.mtime, future.mtime)
	}
	if now == future {
		t.Fatal("signatures equal")
	}
	if got := string(readBytes(t, path)); got != "two" {
		t.Fatalf("content %q", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
}
