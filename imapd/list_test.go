package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func listAll(t *testing.T, c *imapclient.Client, pattern string, o *imap.ListOptions) map[string][]imap.MailboxAttr {
	t.Helper()
	l, err := c.List("", pattern, o).Collect()
	if err != nil {
		t.Fatalf("LIST %q: %v", pattern, err)
	}
	out := map[string][]imap.MailboxAttr{}
	for _, d := range l {
		if d.Delim != '/' {
			t.Errorf("%s: delimiter %q", d.Mailbox, d.Delim)
		}
		out[d.Mailbox] = d.Attrs
	}
	return out
}

func TestListDefaultFolders(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	got := listAll(t, c, "*", nil)
	want := map[string][]imap.MailboxAttr{
		"INBOX":   {imap.MailboxAttrHasNoChildren},
		"Sent":    {imap.MailboxAttrHasNoChildren, imap.MailboxAttrSent},
		"Drafts":  {imap.MailboxAttrHasNoChildren, imap.MailboxAttrDrafts},
		"Trash":   {imap.MailboxAttrHasNoChildren, imap.MailboxAttrTrash},
		"Junk":    {imap.MailboxAttrHasNoChildren, imap.MailboxAttrJunk},
		"Archive": {imap.MailboxAttrHasNoChildren, imap.MailboxAttrArchive},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LIST *:\n got %v\nwant %v", got, want)
	}
	// LIST "" "" gives the delimiter (RFC 9051 §6.3.9).
	r := e.rawLogin()
	u := r.ok("a", `LIST "" ""`)
	if len(u) != 1 || u[0] != `* LIST (\Noselect) "/" ""` {
		t.Errorf(`LIST "" "": %q`, u)
	}
	// INBOX in any case; special-use selection (RFC 6154 §5.1).
	u = r.ok("b", `LIST "" inBox`)
	if len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" INBOX` {
		t.Errorf(`LIST "" inBox: %q`, u)
	}
	u = r.ok("c", `LIST (SPECIAL-USE) "" "*"`)
	if len(u) != 5 || slices.ContainsFunc(u, func(s string) bool { return strings.Contains(s, "INBOX") }) {
		t.Errorf("LIST (SPECIAL-USE): %q", u)
	}
}

func TestCreateRenameDelete(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	// Parents are made as needed (RFC 9051 §6.3.4); a trailing delimiter
	// is dropped.
	if err := c.Create("Projects/2024/Q1", nil).Wait(); err != nil {
		t.Fatalf("create nested: %v", err)
	}
	if err := c.Create("Lists/", nil).Wait(); err != nil {
		t.Fatalf("create with trailing delimiter: %v", err)
	}
	if err := c.Create("Écoles ☃", nil).Wait(); err != nil {
		t.Fatalf("create UTF-8 name: %v", err)
	}
	got := listAll(t, c, "*", nil)
	for name, attrs := range map[string][]imap.MailboxAttr{
		"Projects":         {imap.MailboxAttrHasChildren},
		"Projects/2024":    {imap.MailboxAttrHasChildren},
		"Projects/2024/Q1": {imap.MailboxAttrHasNoChildren},
		"Lists":            {imap.MailboxAttrHasNoChildren},
		"Écoles ☃":         {imap.MailboxAttrHasNoChildren},
	} {
		if fmt.Sprint(got[name]) != fmt.Sprint(attrs) {
			t.Errorf("%s: %v, want %v", name, got[name], attrs)
		}
	}
	// "%" stops at the delimiter.
	top := listAll(t, c, "%", nil)
	if _, ok := top["Projects/2024"]; ok || top["Projects"] == nil {
		t.Errorf("LIST %%: %v", top)
	}
	err := c.Create("Lists", nil).Wait()
	if imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("create existing: %v", err)
	}
	if err := c.Create("inbox", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("create INBOX: %v", err)
	}

	appendMsg(t, c, "Projects/2024/Q1", simple("kept", "body\r\n"), nil)
	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatalf("rename: %v", err)
	}
	got = listAll(t, c, "*", nil)
	if got["Projects"] != nil || got["Work/2024/Q1"] == nil {
		t.Errorf("after rename: %v", got)
	}
	st, err := c.Status("Work/2024/Q1", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Errorf("renamed child lost its message: %v %v", st, err)
	}
	if err := c.Rename("Nope", "Other", nil).Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("rename missing: %v", err)
	}
	if err := c.Rename("Lists", "Work", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Errorf("rename onto existing: %v", err)
	}

	if err := c.Delete("Lists").Wait(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := c.Delete("Lists").Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("delete missing: %v", err)
	}
	if err := c.Delete("INBOX").Wait(); imapCode(err) != imap.ResponseCodeCannot {
		t.Errorf("delete INBOX: %v", err)
	}
	// Deleting a parent keeps its children: the parent is then listed as
	// \NonExistent \Noselect (RFC 5258 §3).
	if err := c.Delete("Work/2024").Wait(); err != nil {
		t.Fatalf("delete parent: %v", err)
	}
	got = listAll(t, c, "Work/*", nil)
	if !slices.Contains(got["Work/2024"], imap.MailboxAttrNonExistent) || got["Work/2024/Q1"] == nil {
		t.Errorf("after deleting the parent: %v", got)
	}
	if _, err := c.Select("Work/2024", nil).Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("select deleted parent: %v", err)
	}
}

func TestCreateSpecialUse(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	if err := c.Create("Old mail", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatalf("CREATE USE (\\Archive): %v", err)
	}
	got := listAll(t, c, "Old mail", nil)
	if !slices.Contains(got["Old mail"], imap.MailboxAttrArchive) {
		t.Errorf("special use not listed: %v", got)
	}
	r := e.rawLogin()
	_, tagged := r.cmd("a", `CREATE "Everything" (USE (\All))`)
	if tagged != "a NO [USEATTR] Unsupported special-use attribute" {
		t.Errorf("CREATE USE (\\All): %q", tagged)
	}
	if got := listAll(t, c, "Everything", nil); len(got) != 0 {
		t.Errorf("refused CREATE made a folder: %v", got)
	}
}

func TestSubscribeAndListExtended(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	for _, name := range []string{"A", "A/B", "C"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Subscribe("A/B").Wait(); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	// RFC 9051 §6.3.7: a name that does not exist may be subscribed.
	if err := c.Subscribe("Missing").Wait(); err != nil {
		t.Errorf("subscribe missing: %v", err)
	}
	r := e.rawLogin()
	u := r.ok("a", `LIST (SUBSCRIBED) "" "*"`)
	want := []string{
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LIST (\HasNoChildren \Subscribed) "/" "A/B"`,
		`* LIST (\HasNoChildren \Subscribed \Archive) "/" "Archive"`,
		`* LIST (\HasNoChildren \Subscribed \Drafts) "/" "Drafts"`,
		`* LIST (\HasNoChildren \Subscribed \Junk) "/" "Junk"`,
		`* LIST (\Noselect \NonExistent \HasNoChildren \Subscribed) "/" "Missing"`,
		`* LIST (\HasNoChildren \Subscribed \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Subscribed \Trash) "/" "Trash"`,
	}
	if !slices.Equal(u, want) {
		t.Errorf("LIST (SUBSCRIBED):\n got %q\nwant %q", u, want)
	}
	// RECURSIVEMATCH: A is not subscribed but has a subscribed child
	// (RFC 5258 §3.5).
	u = r.ok("b", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`)
	if !slices.Contains(u, `* LIST (\HasChildren) "/" "A" (CHILDINFO ("SUBSCRIBED"))`) || slices.ContainsFunc(u, func(s string) bool { return strings.Contains(s, `"C"`) }) {
		t.Errorf("RECURSIVEMATCH: %q", u)
	}
	u = r.ok("c", `LSUB "" "A/*"`)
	if !slices.Equal(u, []string{`* LSUB (\HasNoChildren \Subscribed) "/" "A/B"`}) {
		t.Errorf("LSUB: %q", u)
	}
	// Several patterns (RFC 5258 §3) and return options.
	u = r.ok("d", `LIST "" ("A" "A/%") RETURN (SUBSCRIBED CHILDREN)`)
	want = []string{`* LIST (\HasChildren) "/" "A"`, `* LIST (\HasNoChildren \Subscribed) "/" "A/B"`}
	if !slices.Equal(u, want) {
		t.Errorf("RETURN (SUBSCRIBED CHILDREN):\n got %q\nwant %q", u, want)
	}
	if err := c.Unsubscribe("A/B").Wait(); err != nil {
		t.Fatal(err)
	}
	u = r.ok("e", `LIST (SUBSCRIBED) "" "*"`)
	if slices.ContainsFunc(u, func(s string) bool { return strings.Contains(s, "A/B") }) {
		t.Errorf("still subscribed: %q", u)
	}
}

// A subscription outlives its folder (RFC 3501 §6.3.6, RFC 9051 §6.3.7:
// the server "MUST NOT unilaterally remove" it): after DELETE the name is
// still in LSUB and in LIST (SUBSCRIBED), marked \NonExistent (RFC 5258
// §3.1), so the client can see it and UNSUBSCRIBE it. Plain LIST does not
// show it.
func TestSubscriptionOutlivesDelete(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	r.ok("a", `CREATE "Project"`)
	r.ok("b", `CREATE "Deep/Down"`)
	r.ok("c", `SUBSCRIBE "Project"`)
	r.ok("d", `SUBSCRIBE "Deep/Down"`)
	r.ok("e", `SUBSCRIBE "Ghost/Child"`) // never a folder
	r.ok("f", `DELETE "Project"`)
	r.ok("g", `DELETE "Deep/Down"`)
	r.ok("h", `DELETE "Deep"`)

	u := r.ok("i", `LSUB "" "*"`)
	want := []string{
		`* LSUB (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LSUB (\HasNoChildren \Subscribed \Archive) "/" "Archive"`,
		`* LSUB (\Noselect \NonExistent \HasNoChildren \Subscribed) "/" "Deep/Down"`,
		`* LSUB (\HasNoChildren \Subscribed \Drafts) "/" "Drafts"`,
		`* LSUB (\Noselect \NonExistent \HasNoChildren \Subscribed) "/" "Ghost/Child"`,
		`* LSUB (\HasNoChildren \Subscribed \Junk) "/" "Junk"`,
		`* LSUB (\Noselect \NonExistent \HasNoChildren \Subscribed) "/" "Project"`,
		`* LSUB (\HasNoChildren \Subscribed \Sent) "/" "Sent"`,
		`* LSUB (\HasNoChildren \Subscribed \Trash) "/" "Trash"`,
	}
	if !slices.Equal(u, want) {
		t.Errorf("LSUB after DELETE:\n got %q\nwant %q", u, want)
	}
	u = r.ok("j", `LIST (SUBSCRIBED) "" "Project"`)
	if want := []string{`* LIST (\Noselect \NonExistent \HasNoChildren \Subscribed) "/" "Project"`}; !slices.Equal(u, want) {
		t.Errorf("LIST (SUBSCRIBED) after DELETE:\n got %q\nwant %q", u, want)
	}
	// RFC 5258 §3.5: the missing parent of a subscribed name, through
	// RECURSIVEMATCH.
	u = r.ok("k", `LIST (SUBSCRIBED RECURSIVEMATCH) "" "Ghost"`)
	if want := []string{`* LIST (\Noselect \NonExistent \HasNoChildren) "/" "Ghost" (CHILDINFO ("SUBSCRIBED"))`}; !slices.Equal(u, want) {
		t.Errorf("RECURSIVEMATCH over a missing parent:\n got %q\nwant %q", u, want)
	}
	// Plain LIST shows folders (and superiors of folders) only.
	u = r.ok("l", `LIST "" "*" RETURN (SUBSCRIBED)`)
	for _, l := range u {
		if strings.Contains(l, "Project") || strings.Contains(l, "Ghost") || strings.Contains(l, "Deep") {
			t.Errorf("plain LIST shows a name that is not a folder: %q", l)
		}
	}
	// The client can now clean up.
	r.ok("m", `UNSUBSCRIBE "Project"`)
	r.ok("n", `UNSUBSCRIBE "Ghost/Child"`)
	u = r.ok("o", `LSUB "" "*"`)
	for _, l := range u {
		if strings.Contains(l, "Project") || strings.Contains(l, "Ghost") {
			t.Errorf("still subscribed after UNSUBSCRIBE: %q", l)
		}
	}
	if !slices.Contains(u, `* LSUB (\Noselect \NonExistent \HasNoChildren \Subscribed) "/" "Deep/Down"`) {
		t.Errorf("UNSUBSCRIBE of one name dropped another: %q", u)
	}
	// Re-creating the folder finds it subscribed (the name is what is
	// subscribed, RFC 9051 §6.3.7).
	r.ok("p", `CREATE "Deep/Down"`)
	u = r.ok("q", `LIST (SUBSCRIBED) "" "Deep/Down"`)
	if want := []string{`* LIST (\HasNoChildren \Subscribed) "/" "Deep/Down"`}; !slices.Equal(u, want) {
		t.Errorf("re-created folder:\n got %q\nwant %q", u, want)
	}
}

func TestListStatusAndStatus(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("one", "1\r\n"), simple("two", "22\r\n"))
	c := e.login()
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true,
		NumUnseen: true, NumDeleted: true, Size: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	infos, bodies := e.folder("INBOX")
	size := int64(len(bodies[0]) + len(bodies[1]))
	if *st.NumMessages != 2 || *st.NumUnseen != 2 || *st.NumDeleted != 0 || *st.Size != size ||
		st.UIDNext != imap.UID(infos[1].UID+1) || st.UIDValidity == 0 {
		t.Errorf("STATUS: messages %d unseen %d deleted %d size %d (want %d) uidnext %d",
			*st.NumMessages, *st.NumUnseen, *st.NumDeleted, *st.Size, size, st.UIDNext)
	}
	if _, err := c.Status("Nope", &imap.StatusOptions{NumMessages: true}).Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Errorf("STATUS missing: %v", err)
	}
	r := e.rawLogin()
	u := r.ok("a", `LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN SIZE))`)
	want := []string{`* LIST (\HasNoChildren) "/" INBOX`, fmt.Sprintf(`* STATUS INBOX (MESSAGES 2 UNSEEN 2 SIZE %d)`, size)}
	if !slices.Equal(u, want) {
		t.Errorf("LIST-STATUS:\n got %q\nwant %q", u, want)
	}
	u = r.ok("b", `STATUS INBOX (RECENT APPENDLIMIT)`)
	if len(u) != 1 || u[0] != `* STATUS INBOX (APPENDLIMIT 33554432 RECENT 0)` {
		t.Errorf("STATUS RECENT APPENDLIMIT: %q", u)
	}
	_, tagged := r.cmd("c", `STATUS INBOX (DELETED-STORAGE)`)
	if tagged != "c BAD Unknown STATUS data item" {
		t.Errorf("STATUS DELETED-STORAGE: %q", tagged)
	}
}

func TestNamespace(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	u := r.ok("a", "NAMESPACE")
	if len(u) != 1 || u[0] != `* NAMESPACE (("" "/")) NIL NIL` {
		t.Errorf("NAMESPACE: %q", u)
	}
}

// Mailbox names cross the wire in modified UTF-7, or in UTF-8 once the
// client has enabled UTF8=ACCEPT (RFC 6855 §3) or IMAP4rev2.
func TestMailboxNameEncoding(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	r.ok("a", `CREATE "&AMk-coles"`) // "Écoles"
	u := r.ok("b", `LIST "" "&AMk-*"`)
	if len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" "&AMk-coles"` {
		t.Errorf("LIST before ENABLE: %q", u)
	}
	if u := r.ok("c", "ENABLE UTF8=ACCEPT"); len(u) != 1 || u[0] != "* ENABLED UTF8=ACCEPT" {
		t.Fatalf("ENABLE: %q", u)
	}
	u = r.ok("d", `LIST "" "É*"`)
	if len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" "Écoles"` {
		t.Errorf("LIST after ENABLE UTF8=ACCEPT: %q", u)
	}
	if _, tagged := r.cmd("e", `SELECT "Écoles"`); !strings.HasPrefix(tagged, "e OK [READ-WRITE]") {
		t.Errorf("SELECT by UTF-8 name: %q", tagged)
	}
}
