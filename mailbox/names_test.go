package mailbox

import (
	"errors"
	"strings"
	"testing"
)

func TestFolderNames(t *testing.T) {
	good := []struct{ in, canon, dir string }{
		{"INBOX", "INBOX", ""},
		{"inbox", "INBOX", ""},
		{"Sent", "Sent", ".Sent"},
		{"Archive/2024", "Archive/2024", ".Archive.2024"},
		{"inbox/sub", "INBOX/sub", ".INBOX.sub"},
		{"Entwürfe", "Entwürfe", ".Entw&APw-rfe"},
		{"A&B", "A&B", ".A&-B"},
		{"日本語", "日本語", ".&ZeVnLIqe-"},
		{"~user's mail", "~user's mail", ".~user's mail"},
		{"😀", "😀", ".&2D3eAA-"},
	}
	for _, g := range good {
		n, err := parseFolderName(g.in)
		if err != nil || n.canon != g.canon || n.dir != g.dir {
			t.Errorf("%q: got %q %q %v, want %q %q", g.in, n.canon, n.dir, err, g.canon, g.dir)
			continue
		}
		if !n.isInbox() {
			back, ok := folderFromDir(n.dir)
			if !ok || back.canon != g.canon {
				t.Errorf("%q: dir %q maps back to %q %v", g.in, n.dir, back.canon, ok)
			}
		}
	}
	bad := []string{
		"", "/", "a/", "/a", "a//b", ".", "..", "../x", "a/../b", ".hidden", "a.b",
		"a/.b", "x\x00y", "x\ny", "x\ry", "x\ty", "\x7f", "a*", "a%", `a\b`,
		"\xff\xfe", strings.Repeat("x", 300), strings.Repeat("a/", 70) + "a",
	}
	for _, b := range bad {
		if n, err := parseFolderName(b); !errors.Is(err, ErrBadName) {
			t.Errorf("%q accepted as %q (%v)", b, n.dir, err)
		}
	}
	// Directory names we would never write are not folders.
	for _, d := range []string{".", "..", ".&Jjo", ".&AGE-", ".a..b", ".a.", ".&AOk-&AOk-", "cur", ".x\x01", ".A.&-"} {
		if n, ok := folderFromDir(d); ok && d != ".A.&-" {
			t.Errorf("dir %q accepted as %q", d, n.canon)
		}
	}
}

func TestMUTF7(t *testing.T) {
	vectors := []struct{ dec, enc string }{
		{"", ""},
		{"abc", "abc"},
		{"&", "&-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"é", "&AOk-"},
		{"éé", "&AOkA6Q-"},
		{"a é b", "a &AOk- b"},
	}
	for _, v := range vectors {
		if got := encodeMUTF7(v.dec); got != v.enc {
			t.Errorf("encode %q = %q, want %q", v.dec, got, v.enc)
		}
		if got, err := decodeMUTF7(v.enc); err != nil || got != v.dec {
			t.Errorf("decode %q = %q %v", v.enc, got, err)
		}
	}
	for _, bad := range []string{"&", "&AOk", "&AGE-", "&AOk-&AOk-", "&2D3-", "\x80", "&A-", "&AOl-"} {
		if got, err := decodeMUTF7(bad); err == nil {
			t.Errorf("decode %q accepted: %q", bad, got)
		}
	}
}

func TestUserNames(t *testing.T) {
	canon, dir, err := userPath("/m", "Alice@Example.ORG")
	if err != nil || canon != "alice@example.org" || dir != "/m/example.org/alice" {
		t.Fatalf("%q %q %v", canon, dir, err)
	}
	for _, u := range []string{"", "alice", "@x", "a@", "a@b@c", "../a@x", "a@..", "a@.x", ".a@x",
		"a/b@x", `a\b@x`, "a@x/y", "a\x00@x", "a b@x", "a@x\n", "\xff@x", strings.Repeat("a", 300) + "@x"} {
		if _, _, err := userPath("/m", u); !errors.Is(err, ErrBadName) {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestFileNames(t *testing.T) {
	key, info := splitName("123.M4P5Q6.host,S=10,W=12:2,FRS")
	if key != "123.M4P5Q6.host,S=10,W=12" || info != "2,FRS" {
		t.Fatal(key, info)
	}
	if s, w := nameSizes(key); s != 10 || w != 12 {
		t.Fatal(s, w)
	}
	if s, w := nameSizes("123.host"); s != -1 || w != -1 {
		t.Fatal(s, w)
	}
	sys, extra := parseInfo("2,FRSab")
	if sys != sysFlagged|sysAnswered|sysSeen || extra != "ab" {
		t.Fatal(sys, extra)
	}
	if got := buildInfo(sysSeen|sysDraft|sysDeleted|sysPassed, "a"); got != "2,DPSTa" {
		t.Fatal(got)
	}
	if got := escapeHost("my/host:x,y"); got != `my\057host\072x\054y` {
		t.Fatal(got)
	}
	if fl := parseFlags([]string{`\seen`, `\Recent`, `\Bogus`, "$forwarded", "Work", "work", "bad word", "a(b", `\Deleted`}); fl.sys != sysSeen|sysPassed|sysDeleted || !equalStrings(fl.keywords, []string{"Work"}) {
		t.Fatalf("%+v", fl)
	}
}

// The refusals a client can act on are told apart (imapd gives each its
// own text); each is still ErrBadName.
func TestFolderNameRefusalKinds(t *testing.T) {
	for _, c := range []struct {
		name string
		kind error
	}{
		{"v1.2", ErrNameDot},
		{"john.doe", ErrNameDot},
		{"Lists/go.dev", ErrNameDot},
		{"..", ErrNameDot},
		{strings.Repeat("x", MaxFolderNameBytes+1), ErrNameTooLong},
		{"a/" + strings.Repeat("x", MaxFolderNameBytes-1), ErrNameTooLong},
		{strings.Repeat("é", 100), ErrNameTooLong}, // &AOk... : 3 bytes each
		{strings.Repeat("a/", MaxFolderDepth) + "a", ErrNameTooDeep},
		{"50%", ErrNameWildcard},
		{"a*", ErrNameWildcard},
		{`a\b`, ErrNameBackslash},
	} {
		_, err := parseFolderName(c.name)
		if !errors.Is(err, c.kind) || !errors.Is(err, ErrBadName) {
			t.Errorf("%.30q: %v, want %v", c.name, err, c.kind)
		}
	}
	// The limits are where they say.
	for _, ok := range []string{
		strings.Repeat("x", MaxFolderNameBytes),
		"a/" + strings.Repeat("x", MaxFolderNameBytes-2),
		strings.Repeat("a/", MaxFolderDepth-1) + "a",
	} {
		if _, err := parseFolderName(ok); err != nil {
			t.Errorf("%.30q (%d bytes) refused: %v", ok, len(ok), err)
		}
	}
	// Other refusals are ErrBadName alone.
	for _, name := range []string{"", "a//b", "x\x01y"} {
		_, err := parseFolderName(name)
		for _, kind := range []error{ErrNameDot, ErrNameTooLong, ErrNameTooDeep, ErrNameWildcard, ErrNameBackslash} {
			if errors.Is(err, kind) {
				t.Errorf("%q: %v", name, err)
			}
		}
	}
}
