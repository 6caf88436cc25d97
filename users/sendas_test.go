package users

import "testing"

func TestMaySendAs(t *testing.T) {
	f, _ := openTestDB(t)
	for _, u := range []string{"alice@example.org", "bob@example.org", "carol@example.net"} {
		mustAddUser(t, f, u, "pw")
	}
	for _, a := range []struct {
		a  string
		ts []string
	}{
		{"team@example.org", []string{"alice@example.org", "bob@example.org"}},
		{"all@example.net", []string{"team@example.org", "carol@example.net"}},
	} {
		if err := f.AddAlias(a.a, a.ts); err != nil {
			t.Fatal(err)
		}
	}
	storeAlias(t, f, "fwd@example.org", []string{"someone@elsewhere.com"}) // from an older file
	for _, tc := range []struct {
		user, addr string
		want       bool
	}{
		{"alice@example.org", "alice@example.org", true},
		{"alice@example.org", "Alice@EXAMPLE.org", true},
		{"Alice@Example.org", "alice@example.org", true}, // the user is folded too
		{"alice@example.org", "alice+lists@example.org", true},
		{"alice@example.org", "team@example.org", true},
		{"alice@example.org", "team+x@example.org", true},
		{"alice@example.org", "all@example.net", true}, // alias of an alias
		{"carol@example.net", "all@example.net", true},
		{"carol@example.net", "team@example.org", false},
		{"alice@example.org", "bob@example.org", false},
		{"alice@example.org", "bob+alice@example.org", false},
		{"alice@example.org", "fwd@example.org", false}, // reaches nobody here
		{"alice@example.org", "nobody@example.org", false},
		{"alice@example.org", "alice@elsewhere.com", false},
		{"alice@example.org", "postmaster", false},
		{"alice@example.org", "", false},
		{"alice@example.org", "alice", false},
		{"alice@example.org", "al ice@example.org", false},
		{"alice@example.org", "alice@example..org", false},
		{"alice@example.org", "\"alice\"@example.org", false},
	} {
		got, err := f.MaySendAs(tc.user, tc.addr)
		if err != nil {
			t.Errorf("MaySendAs(%q, %q): %v", tc.user, tc.addr, err)
		}
		if got != tc.want {
			t.Errorf("MaySendAs(%q, %q) = %v, want %v", tc.user, tc.addr, got, tc.want)
		}
	}
}
