package users

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOpenFileCreatesEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "users.db")
	f := openAt(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	want := "{\n  \"version\": 1,\n  \"users\": {},\n  \"aliases\": {}\n}\n"
	if got := string(readBytes(t, path)); got != want {
		t.Errorf("new file:\n%s\nwant:\n%s", got, want)
	}
	if u, err := f.ListUsers(); err != nil || len(u) != 0 {
		t.Errorf("ListUsers = %v, %v", u, err)
	}
}

func TestOpenFileRejects(t *testing.T) {
	dir := t.TempDir()
	bad := map[string]string{
		`{"version": 2, "users": {}, "aliases": {}}`:                                                                     "version is 2",
		`{"version": 1, "users": {}, "aliases": {}, "extra": 1}`:                                                         `unknown field "extra"`,
		`{"version": 1, "users": {"bob": {"password": "x"}}}`:                                                            `user "bob"`,
		`{"version": 1, "users": {"bob@example.org": {"password": "plain"}}}`:                                            "password is not an argon2id or bcrypt hash",
		`{"version": 1, "users": {"Bob@example.org": {"password": "P"}, "bob@example.org": {"password": "P"}}}`:          "listed twice",
		`{"version": 1, "aliases": {"a@example.org": []}}`:                                                               "has no targets",
		`{"version": 1, "aliases": {"a@example.org": ["not an address"]}}`:                                               "target",
		`{"version": 1, "users": {"a@example.org": {"password": "P"}}, "aliases": {"a@example.org": ["b@example.org"]}}`: "both a user and an alias",
		`{"version": 1} {}`: "unexpected data",
		`not json`:          "invalid character",
	}
	h := hashPassword("pw", fastParams)
	i := 0
	for content, want := range bad {
		i++
		path := filepath.Join(dir, "u"+string(rune('a'+i))+".db")
		content = strings.ReplaceAll(content, `"P"`, `"`+h+`"`)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenFile(path, FileOptions{Domains: []string{"example.org"}, HashParams: fastParams})
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, errFormat) && want != "invalid character" {
			t.Errorf("OpenFile(%s) = %v; want an error containing %q", content, err, want)
		}
		if got := string(readBytes(t, path)); got != content {
			t.Errorf("OpenFile changed a file it could not read")
		}
	}
	// Bad options.
	if _, err := OpenFile(filepath.Join(dir, "x.db"), FileOptions{Delimiter: "."}); err == nil {
		t.Error("delimiter \".\" accepted")
	}
	if _, err := OpenFile(filepath.Join(dir, "x.db"), FileOptions{HashParams: HashParams{KeyLen: 4}}); err == nil {
		t.Error("4-byte argon2 key accepted")
	}
}

func TestAddUser(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "Alice@Example.org", "secret one")
	mustAddUser(t, f, "bob@example.net", "secret two")
	if err := f.AddAlias("postmaster@example.org", []string{"alice@example.org"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		addr, pw string
		is       error
		text     string
	}{
		{"alice@example.org", "x", ErrExists, "users: address already exists: alice@example.org is a user"},
		{"ALICE@EXAMPLE.ORG", "x", ErrExists, "users: address already exists: alice@example.org is a user"},
		{"postmaster@example.org", "x", ErrExists, "users: address already exists: postmaster@example.org is an alias"},
		{"carol@example.com", "x", ErrNotLocal, "users: domain is not local: example.com; add it to domains in the config first"},
		{"carol+x@example.org", "x", ErrBadAddress, `users: invalid address: "carol+x@example.org": the part before @ contains the subaddress delimiter "+"`},
		{"carol", "x", ErrBadAddress, `users: invalid address: "carol": the address has no @domain part`},
		{"carol@example.org", "", ErrBadPassword, "users: unacceptable password: it is empty"},
		{"carol@example.org", "a\nb", ErrBadPassword, "users: unacceptable password: it contains a line break"},
		{"carol@example.org", strings.Repeat("x", 1025), ErrBadPassword, "users: unacceptable password: it is longer than 1024 bytes"},
	}
	before := readBytes(t, path)
	for _, tt := range tests {
		err := f.AddUser(tt.addr, tt.pw)
		if !errors.Is(err, tt.is) || err.Error() != tt.text {
			t.Errorf("AddUser(%q) = %v; want %s", tt.addr, err, tt.text)
		}
	}
	if after := readBytes(t, path); string(after) != string(before) {
		t.Error("a refused AddUser changed the file")
	}

	got, err := f.ListUsers()
	if want := []string{"alice@example.org", "bob@example.net"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ListUsers = %v, %v; want %v", got, err, want)
	}
	// On disk: canonical keys, argon2id hashes, no password text.
	var onDisk fileFormat
	if err := json.Unmarshal(readBytes(t, path), &onDisk); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(onDisk.Users["alice@example.org"].Password, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("stored hash %q", onDisk.Users["alice@example.org"].Password)
	}
	if strings.Contains(string(readBytes(t, path)), "secret") {
		t.Error("the password appears in the file")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after write %v", fi.Mode().Perm())
	}
	// No temp files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != "users.db" && e.Name() != "users.db.lock" {
			t.Errorf("stray file %s", e.Name())
		}
	}
}

func TestDelimiterOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	f, err := OpenFile(path, FileOptions{Domains: []string{"example.org"}, Delimiter: "-", HashParams: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	mustAddUser(t, f, "a+b@example.org", "pw") // "+" is an ordinary character now
	if err := f.AddUser("a-b@example.org", "pw"); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("AddUser with the delimiter = %v", err)
	}
	got, err := f.Resolve("a+b-tag@example.org")
	if err != nil || !slices.Equal(got, []string{"a+b@example.org"}) {
		t.Fatalf("Resolve = %v, %v", got, err)
	}
}

func TestDeleteUserAndPasswd(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "old")
	if err := f.AddAlias("team@example.org", []string{"alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	if err := f.SetPassword("ALICE@example.org", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Authenticate(ctx, "alice@example.org", "old"); err != ErrAuthFailed {
		t.Errorf("old password still works: %v", err)
	}
	if u, err := f.Authenticate(ctx, "alice@example.org", "new"); err != nil || u != "alice@example.org" {
		t.Errorf("new password: %q, %v", u, err)
	}

	before := readBytes(t, path)
	for _, tt := range []struct {
		err  error
		is   error
		text string
	}{
		{f.SetPassword("nobody@example.org", "x"), ErrNoUser, "users: no such user: nobody@example.org"},
		{f.SetPassword("alice@example.org", ""), ErrBadPassword, "users: unacceptable password: it is empty"},
		{f.DeleteUser("nobody@example.org"), ErrNoUser, "users: no such user: nobody@example.org"},
		{f.DeleteUser("team@example.org"), ErrNoUser, "users: no such user: team@example.org is an alias, not a user"},
		{f.DeleteUser("not an address"), ErrBadAddress, `users: invalid address: "not an address": the address has no @domain part`},
	} {
		if !errors.Is(tt.err, tt.is) || tt.err.Error() != tt.text {
			t.Errorf("got %v; want %s", tt.err, tt.text)
		}
	}
	if string(readBytes(t, path)) != string(before) {
		t.Error("a refused change altered the file")
	}

	if err := f.DeleteUser("Alice@Example.org"); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.ListUsers(); len(u) != 0 {
		t.Errorf("ListUsers after delete = %v", u)
	}
	if _, err := f.Authenticate(ctx, "alice@example.org", "new"); err != ErrAuthFailed {
		t.Errorf("deleted user can log in: %v", err)
	}
	// The alias stays but reaches nobody now.
	if _, err := f.Resolve("team@example.org"); !errors.Is(err, ErrNoUser) {
		t.Errorf("Resolve(dangling alias) = %v", err)
	}
}

func TestAliases(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	mustAddUser(t, f, "bob@example.org", "pw")
	if err := f.AddAlias("Team@Example.org", []string{"alice@example.org", "Bob@EXAMPLE.org", "BOB@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddAlias("all@example.org", []string{"team@example.org", "bob+lists@example.org"}); err != nil {
		t.Fatal(err)
	}
	before := readBytes(t, path)
	for _, tt := range []struct {
		alias   string
		targets []string
		is      error
		text    string
	}{
		{"team@example.org", []string{"alice@example.org"}, ErrExists, "users: address already exists: team@example.org is an alias"},
		{"alice@example.org", []string{"bob@example.org"}, ErrExists, "users: address already exists: alice@example.org is a user"},
		{"x@example.com", []string{"bob@example.org"}, ErrNotLocal, "users: domain is not local: example.com; add it to domains in the config first"},
		{"x@example.org", nil, ErrBadAddress, "users: invalid address: alias x@example.org needs at least one target"},
		{"x@example.org", []string{"x@example.org"}, ErrBadAddress, "users: invalid address: alias x@example.org cannot point to itself"},
		{"x@example.org", []string{"nobody@example.org"}, ErrNoUser, "users: no such user: alias target nobody@example.org is neither a user nor an alias"},
		{"x@example.org", []string{"bad address"}, ErrBadAddress, `users: invalid address: "bad address": the address has no @domain part`},
		{"x+y@example.org", []string{"bob@example.org"}, ErrBadAddress, `users: invalid address: "x+y@example.org": the part before @ contains the subaddress delimiter "+"`},
	} {
		err := f.AddAlias(tt.alias, tt.targets)
		if !errors.Is(err, tt.is) || err.Error() != tt.text {
			t.Errorf("AddAlias(%q, %q) = %v; want %s", tt.alias, tt.targets, err, tt.text)
		}
	}
	if string(readBytes(t, path)) != string(before) {
		t.Error("a refused AddAlias changed the file")
	}

	list, err := f.ListAliases()
	if err != nil {
		t.Fatal(err)
	}
	want := []Alias{
		{"all@example.org", []string{"team@example.org", "bob+lists@example.org"}},
		{"team@example.org", []string{"alice@example.org", "Bob@example.org"}},
	}
	if len(list) != len(want) {
		t.Fatalf("ListAliases = %v", list)
	}
	for i := range want {
		if list[i].Address != want[i].Address || !slices.Equal(list[i].Targets, want[i].Targets) {
			t.Errorf("alias %d = %v, want %v", i, list[i], want[i])
		}
	}

	if err := f.DeleteAlias("TEAM@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		err  error
		text string
	}{
		{f.DeleteAlias("team@example.org"), "users: no such user: no alias team@example.org"},
		{f.DeleteAlias("alice@example.org"), "users: no such user: alice@example.org is a user, not an alias"},
	} {
		if !errors.Is(tt.err, ErrNoUser) || tt.err.Error() != tt.text {
			t.Errorf("got %v, want %s", tt.err, tt.text)
		}
	}
}

func TestAliasLoopRefused(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "u@example.org", "pw")
	if err := f.AddAlias("a@example.org", []string{"u@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddAlias("b@example.org", []string{"a@example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteAlias("a@example.org"); err != nil {
		t.Fatal(err)
	}
	// a is gone; re-adding a -> b would close a loop a -> b -> a.
	before := readBytes(t, path)
	err := f.AddAlias("a@example.org", []string{"u@example.org", "b@example.org"})
	want := "users: invalid address: alias a@example.org would loop back to itself through b@example.org"
	if !errors.Is(err, ErrBadAddress) || err == nil || err.Error() != want {
		t.Fatalf("AddAlias = %v; want %s", err, want)
	}
	if string(readBytes(t, path)) != string(before) {
		t.Error("refused alias changed the file")
	}
}

func TestWriteFailureLeavesFileAlone(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	before := readBytes(t, path)
	boom := errors.New("disk on fire")
	f.writeFile = func(string, []byte, fileSig) error { return boom }
	err := f.AddUser("bob@example.org", "pw")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "users: writing "+path) {
		t.Fatalf("AddUser with failing write = %v", err)
	}
	if string(readBytes(t, path)) != string(before) {
		t.Fatal("file changed")
	}
	// The in-memory view did not take the change either.
	if _, err := f.Resolve("bob@example.org"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("Resolve(bob) after failed add = %v", err)
	}
	f.writeFile = writeAtomic
	mustAddUser(t, f, "bob@example.org", "pw")
}

func TestAdminRefusesToOverwriteBrokenFile(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.AddUser("bob@example.org", "pw")
	if err == nil || !strings.Contains(err.Error(), "fix or restore it before changing users") {
		t.Fatalf("AddUser on a broken file = %v", err)
	}
	if got := string(readBytes(t, path)); got != "{broken" {
		t.Fatalf("broken file was overwritten: %q", got)
	}
	if _, err := f.ListUsers(); err == nil {
		t.Fatal("ListUsers on a broken file succeeded")
	}
}

func TestCheckNewAddress(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	if err := f.AddAlias("team@example.org", []string{"alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	before := readBytes(t, path)
	if c, err := f.CheckNewAddress("Bob@Example.ORG"); err != nil || c != "bob@example.org" {
		t.Errorf("free address: %q, %v", c, err)
	}
	for addr, is := range map[string]error{
		"ALICE@example.org": ErrExists, "team@example.org": ErrExists, "bob@example.com": ErrNotLocal,
		"bob+x@example.org": ErrBadAddress, "bob": ErrBadAddress,
	} {
		if _, err := f.CheckNewAddress(addr); !errors.Is(err, is) {
			t.Errorf("CheckNewAddress(%q) = %v, want %v", addr, err, is)
		}
	}
	if string(readBytes(t, path)) != string(before) {
		t.Error("CheckNewAddress changed the file")
	}
}
