package users

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	var logs logBuf
	f, _ := openTestDB(t)
	f.log = logger(&logs)
	for _, u := range []string{"alice@example.org", "bob@example.org", "carol@example.net", "postmaster@example.net"} {
		mustAddUser(t, f, u, "pw")
	}
	aliases := []struct {
		a  string
		ts []string
	}{
		{"team@example.org", []string{"alice@example.org", "bob@example.org"}},
		{"all@example.org", []string{"team@example.org", "carol@example.net", "alice@example.org"}},
		{"postmaster@example.org", []string{"alice@example.org"}},
		{"loop1@example.org", []string{"bob@example.org"}},
		{"loop2@example.org", []string{"loop1@example.org", "carol@example.net"}},
	}
	for _, a := range aliases {
		if err := f.AddAlias(a.a, a.ts); err != nil {
			t.Fatalf("AddAlias(%s): %v", a.a, err)
		}
	}
	// Remote targets, which AddAlias refuses but an older file may hold.
	storeAlias(t, f, "outside@example.org", []string{"someone@elsewhere.com"})
	storeAlias(t, f, "mixed@example.org", []string{"someone@elsewhere.com", "bob+fwd@example.org"})
	// Close the loop loop1 -> loop2 -> loop1 by hand: AddAlias refuses it,
	// but a hand-edited file may hold one, and Resolve must survive it.
	f.mu.Lock()
	d := f.cur.clone()
	d.aliases["loop1@example.org"] = []string{"bob@example.org", "loop2@example.org"}
	f.cur = d
	f.mu.Unlock()

	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"alice@example.org", []string{"alice@example.org"}, nil},
		{"ALICE@EXAMPLE.ORG", []string{"alice@example.org"}, nil},
		{"alice+news@example.org", []string{"alice@example.org"}, nil},
		{"Alice+News+More@Example.Org", []string{"alice@example.org"}, nil},
		{"team@example.org", []string{"alice@example.org", "bob@example.org"}, nil},
		{"team+x@example.org", []string{"alice@example.org", "bob@example.org"}, nil},
		{"all@example.org", []string{"alice@example.org", "bob@example.org", "carol@example.net"}, nil},
		{"mixed@example.org", []string{"bob@example.org"}, nil},
		{"loop1@example.org", []string{"bob@example.org", "carol@example.net"}, nil},
		{"loop2@example.org", []string{"bob@example.org", "carol@example.net"}, nil},
		{"postmaster", []string{"postmaster@example.net"}, nil}, // example.net sorts first
		{"PostMaster", []string{"postmaster@example.net"}, nil},
		{"outside@example.org", nil, ErrNoUser},
		{"nobody@example.org", nil, ErrNoUser},
		{"+alice@example.org", nil, ErrNoUser},
		{`"quoted"@example.org`, nil, ErrNoUser},
		{"alice@example.com", nil, ErrNotLocal},
		{"alice@EXAMPLE.COM", nil, ErrNotLocal},
		{"alice", nil, ErrBadAddress},
		{"alice@exa mple.org", nil, ErrBadAddress},
		{"", nil, ErrBadAddress},
	}
	for _, tt := range tests {
		got, err := f.Resolve(tt.in)
		if tt.err != nil {
			if !errors.Is(err, tt.err) || got != nil {
				t.Errorf("Resolve(%q) = %v, %v; want %v", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Resolve(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if !strings.Contains(logs.String(), "alias reaches no local user") {
		t.Errorf("no log line for an alias with remote targets only:\n%s", logs.String())
	}
}

func TestResolveDepthLimit(t *testing.T) {
	var logs logBuf
	f, _ := openTestDB(t)
	f.log = logger(&logs)
	mustAddUser(t, f, "end@example.org", "pw")
	prev := "end@example.org"
	for i := range maxAliasDepth + 1 {
		a := fmt.Sprintf("hop%d@example.org", i)
		if err := f.AddAlias(a, []string{prev}); err != nil {
			t.Fatal(err)
		}
		prev = a
	}
	// hop(maxAliasDepth-1) is maxAliasDepth levels above end: reachable.
	if got, err := f.Resolve(fmt.Sprintf("hop%d@example.org", maxAliasDepth-1)); err != nil || !slices.Equal(got, []string{"end@example.org"}) {
		t.Errorf("at the limit: %v, %v", got, err)
	}
	// One more level is too deep.
	if _, err := f.Resolve(fmt.Sprintf("hop%d@example.org", maxAliasDepth)); !errors.Is(err, ErrNoUser) {
		t.Errorf("beyond the limit: %v", err)
	}
	if !strings.Contains(logs.String(), "alias nesting too deep") {
		t.Errorf("no log line for the depth limit:\n%s", logs.String())
	}
}

func TestIsLocalDomain(t *testing.T) {
	f, _ := openTestDB(t)
	for d, want := range map[string]bool{"example.org": true, "EXAMPLE.org": true, "example.net": true, "example.com": false, "": false} {
		if got := f.IsLocalDomain(d); got != want {
			t.Errorf("IsLocalDomain(%q) = %v", d, got)
		}
	}
	f.SetDomains([]string{"new.example"})
	if f.IsLocalDomain("example.org") || !f.IsLocalDomain("NEW.example") {
		t.Error("SetDomains did not replace the set")
	}
}

func BenchmarkResolveAlias(b *testing.B) {
	f, err := OpenFile(b.TempDir()+"/users.db", FileOptions{Domains: []string{"example.org"}, HashParams: fastParams})
	if err != nil {
		b.Fatal(err)
	}
	var targets []string
	for i := range 20 {
		u := fmt.Sprintf("u%d@example.org", i)
		if err := f.AddUser(u, "pw"); err != nil {
			b.Fatal(err)
		}
		targets = append(targets, u)
	}
	if err := f.AddAlias("all@example.org", targets); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.Resolve("all+tag@example.org"); err != nil {
			b.Fatal(err)
		}
	}
}

// ResolveQuietly gives Resolve's answers without its log lines.
func TestResolveQuietly(t *testing.T) {
	f, _ := openTestDB(t)
	mustAddUser(t, f, "alice@example.org", "pw")
	if err := f.AddAlias("team@example.org", []string{"alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	storeAlias(t, f, "gone@example.org", []string{"nobody@example.org"})
	storeAlias(t, f, "outside@example.org", []string{"someone@elsewhere.com"})
	var logs logBuf
	f.log = logger(&logs)
	for _, addr := range []string{"team+x@example.org", "gone@example.org", "outside@example.org", "postmaster", "x@example.com", "bad"} {
		got, err := f.ResolveQuietly(addr)
		want, wantErr := f.Resolve(addr)
		if !slices.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("ResolveQuietly(%q) = %v, %v; Resolve says %v, %v", addr, got, err, want, wantErr)
		}
	}
	// Only Resolve logged: one line per broken alias, each once.
	if n := strings.Count(logs.String(), "alias target does not exist"); n != 1 {
		t.Errorf("%d lines about the missing target:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "alias reaches no local user"); n != 2 {
		t.Errorf("%d lines about aliases reaching nobody:\n%s", n, logs.String())
	}
}
