package users

import (
	"path/filepath"
	"testing"
	"time"
)

func openRecheck(t *testing.T, path string, every time.Duration) *FileDB {
	t.Helper()
	f, err := OpenFile(path, FileOptions{Domains: []string{"example.org"}, HashParams: fastParams, RecheckInterval: every})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// HasUser sees a deletion made through the same FileDB at once, and one
// made by another process (the CLI) once it looks at the file again:
// after RecheckInterval, or at a call such as Resolve, which always looks.
func TestHasUserSeesDeletion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	cli := openAt(t, path)
	for _, u := range []string{"alice@example.org", "bob@example.org", "carol@example.org"} {
		mustAddUser(t, cli, u, "pw-123456")
	}

	t.Run("same instance", func(t *testing.T) {
		srv := openRecheck(t, path, time.Hour)
		if !srv.HasUser("alice@example.org") || !srv.HasUser("Alice@Example.ORG") {
			t.Fatal("alice missing")
		}
		if srv.HasUser("nobody@example.org") {
			t.Error("an unknown user exists")
		}
		if err := srv.DeleteUser("alice@example.org"); err != nil {
			t.Fatal(err)
		}
		if srv.HasUser("alice@example.org") {
			t.Error("alice still exists after her deletion through the same FileDB")
		}
	})

	t.Run("other process, within the interval", func(t *testing.T) {
		srv := openRecheck(t, path, time.Hour)
		if !srv.HasUser("bob@example.org") {
			t.Fatal("bob missing")
		}
		if err := cli.DeleteUser("bob@example.org"); err != nil {
			t.Fatal(err)
		}
		// Within the hour HasUser does not look at the file...
		if !srv.HasUser("bob@example.org") {
			t.Error("HasUser read the file within RecheckInterval")
		}
		// ...but a call that reads users (Resolve) does, and
		// HasUser then knows.
		if _, err := srv.Resolve("carol@example.org"); err != nil {
			t.Fatal(err)
		}
		if srv.HasUser("bob@example.org") {
			t.Error("bob still exists after a call that read the file")
		}
	})

	t.Run("other process, after the interval", func(t *testing.T) {
		srv := openRecheck(t, path, 20*time.Millisecond)
		if !srv.HasUser("carol@example.org") {
			t.Fatal("carol missing")
		}
		if err := cli.DeleteUser("carol@example.org"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		if srv.HasUser("carol@example.org") {
			t.Error("carol still exists after RecheckInterval")
		}
	})

	t.Run("every call", func(t *testing.T) {
		srv := openRecheck(t, path, -1)
		mustAddUser(t, cli, "dave@example.org", "pw-123456")
		if !srv.HasUser("dave@example.org") {
			t.Fatal("dave not seen at once")
		}
		if err := cli.DeleteUser("dave@example.org"); err != nil {
			t.Fatal(err)
		}
		if srv.HasUser("dave@example.org") {
			t.Error("dave still exists")
		}
	})
}

// Asked before every IMAP and POP3 command, HasUser allocates nothing
// while the version in memory is fresh.
func TestHasUserAllocations(t *testing.T) {
	f, _ := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw-123456")
	f.HasUser("alice@example.org")
	if n := testing.AllocsPerRun(100, func() { f.HasUser("alice@example.org") }); n != 0 {
		t.Errorf("HasUser allocates %v times per call", n)
	}
}
