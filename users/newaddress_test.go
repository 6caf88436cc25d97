package users

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsuite/mailsuite/mailbox"
)

// An alias may not forward outside the local domains: nothing would
// deliver there, and Resolve would drop the target silently.
func TestAliasRemoteTargetRefused(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	mustAddUser(t, f, "carol@example.net", "pw")
	before := readBytes(t, path)
	for _, tt := range []struct {
		targets []string
		text    string
	}{
		{[]string{"friend@elsewhere.com"},
			"users: domain is not local: alias target friend@elsewhere.com is not in a local domain; outbound forwarding is not available yet"},
		{[]string{"alice@example.org", "Friend@Elsewhere.COM"},
			"users: domain is not local: alias target Friend@elsewhere.com is not in a local domain; outbound forwarding is not available yet"},
		{[]string{"friend+lists@example.org.uk"},
			"users: domain is not local: alias target friend+lists@example.org.uk is not in a local domain; outbound forwarding is not available yet"},
	} {
		err := f.AddAlias("fwd@example.org", tt.targets)
		if !errors.Is(err, ErrNotLocal) || err.Error() != tt.text {
			t.Errorf("AddAlias(fwd, %q) = %v; want %s", tt.targets, err, tt.text)
		}
	}
	if string(readBytes(t, path)) != string(before) {
		t.Error("a refused AddAlias changed the file")
	}
	// A local domain in any case is local.
	if err := f.AddAlias("fwd@example.org", []string{"carol@EXAMPLE.NET", "alice@Example.Org"}); err != nil {
		t.Fatalf("local targets: %v", err)
	}
	if got, err := f.Resolve("fwd@example.org"); err != nil || strings.Join(got, " ") != "carol@example.net alice@example.org" {
		t.Errorf("Resolve(fwd) = %v, %v", got, err)
	}
}

// A '/' is atext (RFC 5322 §3.2.3) but the mail store cannot name a user
// with it, so a user or alias with one is refused up front.
func TestNewAddressRefusesSlash(t *testing.T) {
	f, path := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	before := readBytes(t, path)
	want := `users: invalid address: "a/b@example.org": the part before @ contains '/', which a mailbox name cannot hold`
	for name, err := range map[string]error{
		"AddUser":         f.AddUser("a/b@example.org", "pw"),
		"AddAlias":        f.AddAlias("a/b@example.org", []string{"alice@example.org"}),
		"CheckNewAddress": func() error { _, err := f.CheckNewAddress("a/b@example.org"); return err }(),
	} {
		if !errors.Is(err, ErrBadAddress) || err.Error() != want {
			t.Errorf("%s = %v; want %s", name, err, want)
		}
	}
	if string(readBytes(t, path)) != string(before) {
		t.Error("a refused address changed the file")
	}
}

// Every user AddUser would accept can receive mail: the store takes its
// name. Each printable ASCII character is tried inside a local part (the
// store's rules are per character, but for a leading dot, tried too).
// CheckNewAddress makes AddUser's address checks without writing a user;
// each new user costs the store a tree of fsynced directories, so the
// test keeps to one address per character.
func TestNewUsersFitTheStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, err := mailbox.Open(filepath.Join(dir, "mail"), mailbox.Options{
		Hostname: "mail.example.org", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f := openAt(t, filepath.Join(dir, "users.db"))
	var accepted []string
	for c := byte(0x21); c < 0x7f; c++ {
		addr := "x" + string(c) + "y@example.org"
		canon, err := f.CheckNewAddress(addr)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("CheckNewAddress(%q): %v", addr, err)
			}
			continue
		}
		accepted = append(accepted, canon)
	}
	if _, err := f.CheckNewAddress(".x@example.org"); !errors.Is(err, ErrBadAddress) {
		t.Errorf("a leading dot, which the store refuses, is accepted: %v", err)
	}
	if len(accepted) < 60 {
		t.Fatalf("only %d addresses accepted; the test checks too little", len(accepted))
	}
	deliver := func(to []string) error {
		return store.Deliver(t.Context(), to, strings.NewReader("Subject: hi\r\n\r\nhi\r\n"))
	}
	// One delivery to them all; on failure, find who the store refuses.
	if err := deliver(accepted); err != nil {
		for _, u := range accepted {
			if err := deliver([]string{u}); err != nil {
				t.Errorf("user %q passes CheckNewAddress but the store refuses its mail: %v", u, err)
			}
		}
	}
}
