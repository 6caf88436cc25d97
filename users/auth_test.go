package users

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestAuthenticate(t *testing.T) {
	var logs logBuf
	path := filepath.Join(t.TempDir(), "users.db")
	f, err := OpenFile(path, FileOptions{Domains: []string{"example.org"}, HashParams: fastParams, Logger: logger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	mustAddUser(t, f, "alice@example.org", "s3cret pass")
	if err := f.AddAlias("info@example.org", []string{"alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	tests := []struct {
		login, pw string
		want      string // "" = ErrAuthFailed
	}{
		{"alice@example.org", "s3cret pass", "alice@example.org"},
		{"ALICE@Example.Org", "s3cret pass", "alice@example.org"},
		{"alice@example.org", "s3cret Pass", ""},
		{"alice@example.org", "s3cret pass ", ""},
		{"alice@example.org", "", ""},
		{"alice@example.org", strings.Repeat("x", 1025), ""},
		{"alice", "s3cret pass", ""},
		{"alice+tag@example.org", "s3cret pass", ""}, // a subaddress is not a login name
		{"info@example.org", "s3cret pass", ""},      // aliases cannot log in
		{"alice@example.com", "s3cret pass", ""},
		{"nobody@example.org", "s3cret pass", ""},
	}
	for _, tt := range tests {
		got, err := f.Authenticate(ctx, tt.login, tt.pw)
		if tt.want == "" {
			if err != ErrAuthFailed || got != "" {
				t.Errorf("Authenticate(%q, %.10q) = %q, %v; want ErrAuthFailed", tt.login, tt.pw, got, err)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("Authenticate(%q) = %q, %v; want %q", tt.login, got, err, tt.want)
		}
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Fatalf("a password reached the log:\n%s", logs.String())
	}
	// Removing the domain from the config locks its users out.
	f.SetDomains([]string{"example.net"})
	if _, err := f.Authenticate(ctx, "alice@example.org", "s3cret pass"); err != ErrAuthFailed {
		t.Errorf("login in a removed domain: %v", err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Authenticate(cancelled, "alice@example.org", "s3cret pass"); err != context.Canceled {
		t.Errorf("cancelled context: %v", err)
	}
}

// An unknown user is checked against the dummy hash, made with the DB's own
// parameters, so that the miss costs what a hit costs.
func TestAuthenticateUnknownUsesDummyHash(t *testing.T) {
	f, _ := openTestDB(t)
	if f.dummy != "" {
		t.Fatal("dummy hash made before it was needed")
	}
	if _, err := f.Authenticate(t.Context(), "nobody@example.org", "guess"); err != ErrAuthFailed {
		t.Fatal(err)
	}
	h, err := parseArgon2id(f.dummy)
	if err != nil {
		t.Fatalf("dummy hash %q: %v", f.dummy, err)
	}
	if h.memory != fastParams.MemoryKiB || h.time != fastParams.Time || h.threads != fastParams.Threads {
		t.Errorf("dummy hash parameters m=%d t=%d p=%d differ from the DB's", h.memory, h.time, h.threads)
	}
	first := f.dummy
	f.Authenticate(t.Context(), "other@example.org", "guess")
	if f.dummy != first {
		t.Error("dummy hash remade on each miss")
	}
}

func TestAuthenticateBadStoredHash(t *testing.T) {
	var logs logBuf
	path := filepath.Join(t.TempDir(), "users.db")
	f, err := OpenFile(path, FileOptions{Domains: []string{"example.org"}, HashParams: fastParams, Logger: logger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	mustAddUser(t, f, "alice@example.org", "pw")
	// A hash that passes the load check but whose bcrypt body is damaged
	// cannot be forged here; instead poke the snapshot directly.
	f.mu.Lock()
	d := f.cur.clone()
	d.users["alice@example.org"] = "$argon2id$v=19$m=64,t=1,p=1$broken"
	f.cur = d
	f.mu.Unlock()
	if _, err := f.Authenticate(t.Context(), "alice@example.org", "pw"); err != ErrAuthFailed {
		t.Fatalf("Authenticate = %v", err)
	}
	if !strings.Contains(logs.String(), "stored password hash cannot be used") {
		t.Errorf("no log line for the bad hash:\n%s", logs.String())
	}
}

func BenchmarkAuthenticateDefaultParams(b *testing.B) {
	f, err := OpenFile(filepath.Join(b.TempDir(), "users.db"), FileOptions{Domains: []string{"example.org"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.AddUser("alice@example.org", "pw"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f.Authenticate(b.Context(), "alice@example.org", "pw")
	}
}

func BenchmarkAuthenticateUnknownDefaultParams(b *testing.B) {
	f, err := OpenFile(filepath.Join(b.TempDir(), "users.db"), FileOptions{Domains: []string{"example.org"}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f.Authenticate(b.Context(), "nobody@example.org", "pw")
	}
}
