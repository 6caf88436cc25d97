package imapd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// userDirs lists the test user's folder directories on disk (".A.B").
func (e *env) userDirs() []string {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.dir, "mail", "example.org", "alice"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range ents {
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			out = append(out, d.Name())
		}
	}
	return out
}

// A CREATE answered NO leaves nothing behind: the whole name is checked
// before any superior folder is made (RFC 9051 §6.3.4), so no parent of a
// name that cannot exist appears on disk or in LIST.
func TestCreateRefusedLeavesNoParents(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	before := e.userDirs()
	deep := strings.TrimSuffix(strings.Repeat("d/", 71), "/")
	for _, c := range []struct{ name, text string }{
		{"p1/./x", textDot},                            // a "." component: the Maildir++ separator
		{"p2/q//x", "Invalid mailbox name"},            // an empty component
		{"p3/a*", textWildcard},                        // a LIST wildcard
		{"p4/x/" + strings.Repeat("y", 300), textLong}, // one component too long
		{deep, textDeep},                               // 71 levels
	} {
		_, tagged := r.cmd("c", `CREATE "`+c.name+`"`)
		if tagged != "c NO [CANNOT] "+c.text {
			t.Errorf("CREATE %.20q: %q", c.name, tagged)
		}
	}
	if after := e.userDirs(); !slices.Equal(after, before) {
		t.Errorf("refused CREATEs changed the tree:\n before %q\n after  %q", before, after)
	}
	u := r.ok("l", `LIST "" "*"`)
	for _, l := range u {
		for _, p := range []string{`"p1"`, `"p2`, `"p3"`, `"p4`, `"d"`} {
			if strings.Contains(l, p) {
				t.Errorf("LIST shows a leftover of a refused CREATE: %q", l)
			}
		}
	}
	// A good nested name still makes its superiors.
	r.ok("g", `CREATE "p5/q/x"`)
	for _, d := range []string{".p5", ".p5.q", ".p5.q.x"} {
		if _, err := os.Stat(filepath.Join(e.dir, "mail", "example.org", "alice", d, "cur")); err != nil {
			t.Errorf("CREATE p5/q/x: %v", err)
		}
	}
}

// What a refused name is told. A "." is an ordinary character in IMAP
// names (the delimiter is "/"), so the client is told why it cannot have
// one here and what to use instead; the limits are named.
const (
	textDot      = `Folder names cannot contain "." in this store; use another character such as "-" or "_"`
	textLong     = "Folder name too long: the limit is 254 bytes, parent folders included (a non-ASCII character takes several)"
	textDeep     = "Folder name too deep: the limit is 64 levels"
	textWildcard = `Folder names cannot contain "*" or "%" (LIST wildcards)`
)

func TestBadNameTexts(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("one", "1"))
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	before := e.userDirs()
	for _, c := range []struct{ cmd, text string }{
		{`CREATE "v1.2"`, textDot},
		{`CREATE john.doe`, textDot},
		{`CREATE "Lists/go.dev"`, textDot},
		{`RENAME Drafts "a.b"`, textDot},
		{`SUBSCRIBE "x.y"`, textDot},
		{`CREATE "` + strings.Repeat("n", 300) + `"`, textLong},
		{`CREATE "50%"`, textWildcard},
		{`CREATE "a\\b"`, `Folder names cannot contain "\"`}, // a quoted "\\" is one backslash
		{`COPY 1 "old.mail"`, textDot},
	} {
		if _, tagged := r.cmd("a", c.cmd); tagged != "a NO [CANNOT] "+c.text {
			t.Errorf("%.40s: %q", c.cmd, tagged)
		}
	}
	if after := e.userDirs(); !slices.Equal(after, before) {
		t.Errorf("refused names changed the tree:\n before %q\n after  %q", before, after)
	}
	// The longest name allowed is allowed.
	r.ok("b", `CREATE "`+strings.Repeat("n", 254)+`"`)
	r.ok("c", `CREATE "v1-2"`)
}

// A name the library decodes but that holds a control character (here
// U+0001 and NUL, written in modified UTF-7) is the session's to answer:
// NO [CANNOT], in every command that names a mailbox (RFC 5530 §3). Names
// the library cannot decode are its own (doc.go, TestLibraryLimits).
func TestControlCharacterNames(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	before := e.userDirs()
	for _, cmd := range []string{
		`CREATE "&AAE-"`, `CREATE "a/&AAA-b"`, `SELECT "&AAE-"`, `DELETE "&AAE-"`, `RENAME INBOX "&AAE-"`,
		`SUBSCRIBE "&AAE-"`, `STATUS "&AAE-" (MESSAGES)`,
	} {
		if _, tagged := r.cmd("a", cmd); tagged != "a NO [CANNOT] Invalid mailbox name" {
			t.Errorf("%s: %q", cmd, tagged)
		}
	}
	if after := e.userDirs(); !slices.Equal(after, before) {
		t.Errorf("the tree changed: %q", after)
	}
}
