package imapd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// searchCorpus: each message has a distinct subject; the comments say
// which keys should find it.
var searchCorpus = []string{
	// 1: plain ASCII, from Carol.
	"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: Lunch plans\r\n" +
		"Date: Mon, 06 Mar 2023 12:00:00 +0000\r\n\r\nShall we meet at noon?\r\n",
	// 2: base64 body with UTF-8 text; encoded-word subject.
	"From: Dave <dave@example.com>\r\nTo: alice@example.org\r\nCc: Bob <bob@example.org>\r\n" +
		"Subject: =?utf-8?b?w5xiZXJyYXNjaHVuZw==?=\r\nDate: Tue, 07 Mar 2023 23:30:00 -0500\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"RGllIFN0cmHDn2UgaXN0IEdSw5xOIGdlc3RyaWNoZW4uCg==\r\n", // "Die Straße ist GRÜN gestrichen.\n"
	// 3: quoted-printable Latin-1 in a multipart, with an attachment that
	// must not be searched.
	"From: erin@example.org\r\nTo: alice@example.org\r\nSubject: Rechnung\r\n" +
		"Date: Wed, 08 Mar 2023 08:00:00 +0100\r\nX-Priority: 1\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Sch=F6ne Gr=FC=DFe, die Rechnung ist anbei.\r\n--b\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"aGlkZGVuIHBheWxvYWQ=\r\n--b--\r\n", // "hidden payload"
	// 4: no Date header, big.
	"From: carol@example.net\r\nSubject: Big one\r\n\r\n" + strings.Repeat("padding line\r\n", 200),
}

func searchEnv(t *testing.T) (*env, []uint32) {
	e := newEnv(t, nil)
	e.deliver(searchCorpus...)
	infos, _ := e.folder("INBOX")
	var uids []uint32
	for _, in := range infos {
		uids = append(uids, in.UID)
	}
	return e, uids
}

func TestSearchKeys(t *testing.T) {
	e, _ := searchEnv(t)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.ok("f", `STORE 2 +FLAGS (\Flagged $Todo)`)
	r.ok("g", `STORE 3 +FLAGS (\Seen \Deleted)`)
	today := time.Now().Format("2-Jan-2006")
	for _, tc := range []struct{ keys, want string }{
		{"ALL", "1 2 3 4"},
		{"FLAGGED", "2"},
		{"UNFLAGGED", "1 3 4"},
		{"KEYWORD $todo", "2"},
		{"UNKEYWORD $Todo", "1 3 4"},
		{"SEEN DELETED", "3"},
		{"UNSEEN", "1 2 4"},
		{"NEW", ""}, // no \Recent (RFC 9051 dropped it)
		{"RECENT", ""},
		{"OLD", "1 2 3 4"},
		{"FROM carol", "1 4"},
		{"FROM CAROL@EXAMPLE.NET", "1 4"},
		{"TO alice", "1 2 3"},
		{"CC bob", "2"},
		{"BCC bob", ""},
		{`SUBJECT "überrasch"`, "2"}, // decoded encoded-word, case-folded
		{"SUBJECT rechnung", "3"},
		{`HEADER X-Priority ""`, "3"},
		{`HEADER X-Priority 2`, ""},
		{`BODY "straße ist grün"`, "2"}, // base64 + UTF-8, case-insensitive
		{`BODY "schöne grüße"`, "3"},    // quoted-printable Latin-1
		{`BODY "hidden payload"`, ""},   // attachments are not text
		{`BODY "Lunch"`, ""},            // BODY is not the header
		{`TEXT "Lunch"`, "1"},           // TEXT is
		{`TEXT noon`, "1"},
		{"LARGER 1000", "4"},
		{"SMALLER 400", "1 2"}, // sizes: 143, 291, 419, 2845
		{"LARGER 300 SMALLER 500", "3"},
		{"SENTON 7-Mar-2023", "2"}, // the Date's own calendar day
		{"SENTSINCE 7-Mar-2023", "2 3"},
		{"SENTBEFORE 7-Mar-2023", "1"},
		{"ON " + today, "1 2 3 4"},
		{"BEFORE " + today, ""},
		{"SINCE 1-Jan-2000", "1 2 3 4"},
		{"2:3", "2 3"},
		{"3:*", "3 4"},
		{"*", "4"},
		{"NOT 2:3", "1 4"},
		{"OR FLAGGED SEEN", "2 3"},
		{"OR (FROM carol SUBJECT big) BODY noon", "1 4"},
		{"NOT OR FLAGGED SEEN", "1 4"},
		{"(FROM carol) (SUBJECT lunch)", "1"},
		{`CHARSET UTF-8 BODY "GRÜN"`, "2"},
	} {
		u, tagged := r.cmd("a", "SEARCH "+tc.keys)
		want := "* SEARCH"
		if tc.want != "" {
			want += " " + tc.want
		}
		if !strings.HasPrefix(tagged, "a OK") || len(u) != 1 || u[0] != want {
			t.Errorf("SEARCH %s: %q %q, want %q", tc.keys, u, tagged, want)
		}
	}
	_, tagged := r.cmd("b", "SEARCH CHARSET KOI8-R BODY x")
	if !strings.HasPrefix(tagged, "b NO [BADCHARSET]") {
		t.Errorf("unknown charset: %q", tagged)
	}
}

func TestUIDSearchAndESearch(t *testing.T) {
	e, uids := searchEnv(t)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	u := r.ok("a", "UID SEARCH FROM carol")
	if want := fmt.Sprintf("* SEARCH %d %d", uids[0], uids[3]); len(u) != 1 || u[0] != want {
		t.Errorf("UID SEARCH: %q want %q", u, want)
	}
	u = r.ok("b", fmt.Sprintf("UID SEARCH UID %d:* NOT UID %d", uids[1], uids[3]))
	if want := fmt.Sprintf("* SEARCH %d %d", uids[1], uids[2]); len(u) != 1 || u[0] != want {
		t.Errorf("UID SEARCH UID: %q want %q", u, want)
	}
	// RFC 4731 ESEARCH.
	u = r.ok("c", "SEARCH RETURN (MIN MAX COUNT) FROM carol")
	if want := `* ESEARCH (TAG "c") MIN 1 MAX 4 COUNT 2`; len(u) != 1 || u[0] != want {
		t.Errorf("ESEARCH: %q", u)
	}
	u = r.ok("d", "UID SEARCH RETURN (ALL) 1:3")
	if want := fmt.Sprintf(`* ESEARCH (TAG "d") UID ALL %d:%d`, uids[0], uids[2]); len(u) != 1 || u[0] != want {
		t.Errorf("UID ESEARCH ALL: %q want %q", u, want)
	}
	u = r.ok("e", "SEARCH RETURN (COUNT) SUBJECT nothing-like-this")
	if want := `* ESEARCH (TAG "e") COUNT 0`; len(u) != 1 || u[0] != want {
		t.Errorf("ESEARCH COUNT 0: %q", u)
	}
}

// SEARCHRES (RFC 5182): SAVE then "$" in FETCH, STORE, COPY and SEARCH.
func TestSearchRes(t *testing.T) {
	e, uids := searchEnv(t)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.ok("a", "SEARCH RETURN (SAVE) FROM carol")
	u := r.ok("b", "FETCH $ (UID)")
	want := []string{fmt.Sprintf("* 1 FETCH (UID %d)", uids[0]), fmt.Sprintf("* 4 FETCH (UID %d)", uids[3])}
	if !slices.Equal(u, want) {
		t.Errorf("FETCH $: %q", u)
	}
	r.ok("c", `STORE $ +FLAGS.SILENT (\Answered)`)
	u = r.ok("d", "SEARCH ANSWERED")
	if len(u) != 1 || u[0] != "* SEARCH 1 4" {
		t.Errorf("after STORE $: %q", u)
	}
	u = r.ok("e", "SEARCH $ SUBJECT big")
	if len(u) != 1 || u[0] != "* SEARCH 4" {
		t.Errorf("SEARCH $: %q", u)
	}
	// With MIN only, $ is the first message (RFC 5182 §2.4).
	r.ok("f", "SEARCH RETURN (SAVE MIN) FROM carol")
	u = r.ok("g", "UID SEARCH $")
	if want := fmt.Sprintf("* SEARCH %d", uids[0]); len(u) != 1 || u[0] != want {
		t.Errorf("$ after SAVE MIN: %q", u)
	}
	// A failed SAVE leaves $ empty; $ ends with the selection.
	_, tagged := r.cmd("h", "SEARCH RETURN (SAVE) CHARSET KOI8-R BODY x")
	if !strings.HasPrefix(tagged, "h NO") {
		t.Fatalf("%q", tagged)
	}
	r.ok("i", "SEARCH RETURN (SAVE) ALL")
	r.ok("j", "UNSELECT")
	r.ok("k", "SELECT INBOX")
	u = r.ok("l", "SEARCH $")
	if len(u) != 1 || u[0] != "* SEARCH" {
		t.Errorf("$ after reselect: %q", u)
	}
}

func TestSearchWithClient(t *testing.T) {
	e, uids := searchEnv(t)
	c := e.loginSelect("INBOX")
	data, err := c.UIDSearch(&imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "carol"}},
		Not:    []imap.SearchCriteria{{Body: []string{"padding"}}},
	}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := data.AllUIDs(); len(got) != 1 || uint32(got[0]) != uids[0] {
		t.Errorf("UID SEARCH: %v", got)
	}
}

// After ENABLE IMAP4rev2, SEARCH answers with ESEARCH (RFC 9051 §6.4.4).
func TestSearchRev2(t *testing.T) {
	e, _ := searchEnv(t)
	r := e.rawLogin()
	if u := r.ok("a", "ENABLE IMAP4rev2"); len(u) != 1 || u[0] != "* ENABLED IMAP4rev2" {
		t.Fatalf("ENABLE: %q", u)
	}
	u := r.ok("s", "SELECT INBOX")
	for _, l := range u {
		if strings.Contains(l, "RECENT") {
			t.Errorf("IMAP4rev2 SELECT sent %q", l)
		}
	}
	if u := r.ok("b", "SEARCH FROM carol"); len(u) != 1 || u[0] != `* ESEARCH (TAG "b") ALL 1,4` {
		t.Errorf("rev2 SEARCH: %q", u)
	}
}
