package imapd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

// bigAttachment makes a multipart message with a base64 attachment of n
// random octets; it returns the message and the attachment.
func bigAttachment(n int) (string, []byte) {
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("From: carol@example.net\r\nTo: alice@example.org\r\nSubject: big\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n" +
		"--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n" +
		"--XyZ\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"blob.bin\"\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--XyZ--\r\n")
	return b.String(), data
}

// APPEND then FETCH BODY[] gives back the very octets sent, whatever they
// hold: lines starting with ".", 8-bit UTF-8, a 5 MiB attachment. On disk
// the file holds them with LF line ends (the store's Maildir format).
func TestAppendFetchByteIdentical(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login()
	big, _ := bigAttachment(5 << 20)
	msgs := []string{
		simple("dots", ".\r\n..\r\n.leading dot\r\n. \r\nend\r\n"),
		"From: Zoë <zoe@example.net>\r\nSubject: Grüße aus Köln ☃\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: 8bit\r\n\r\nÄpfel, Birnen & Öl — 日本語\r\n",
		big,
		"Subject: no final newline\r\n\r\nlast line",
	}
	date := time.Date(2023, 4, 5, 6, 7, 8, 0, time.FixedZone("", 2*3600))
	var uids []imap.UID
	for _, m := range msgs {
		uids = append(uids, appendMsg(t, c, "INBOX", m, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged, "$Label1"}, Time: date}))
	}
	for i := 1; i < len(uids); i++ {
		if uids[i] <= uids[i-1] {
			t.Fatalf("APPENDUID not increasing: %v", uids)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	for i, uid := range uids {
		m := fetchOne(t, c, uid, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section},
			RFC822Size: true, InternalDate: true, Flags: true})
		got := m.FindBodySection(section)
		if !bytes.Equal(got, []byte(msgs[i])) {
			t.Errorf("message %d: BODY[] differs (%d octets, want %d)", i, len(got), len(msgs[i]))
		}
		if m.RFC822Size != int64(len(msgs[i])) {
			t.Errorf("message %d: RFC822.SIZE %d, want %d", i, m.RFC822Size, len(msgs[i]))
		}
		if !m.InternalDate.Equal(date) {
			t.Errorf("message %d: INTERNALDATE %v, want %v", i, m.InternalDate, date)
		}
		if fmt.Sprint(m.Flags) != `[$Label1 \Flagged]` {
			t.Errorf("message %d: flags %v", i, m.Flags)
		}
	}
	disk := e.diskContents()
	for i, m := range msgs {
		want := strings.ReplaceAll(m, "\r\n", "\n")
		found := false
		for _, d := range disk {
			found = found || d == want
		}
		if !found {
			t.Errorf("message %d not on disk as sent (with LF line ends)", i)
		}
	}
}

func TestAppendTryCreateAndLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AppendLimit = 5000 })
	c := e.login()
	before := e.diskContents()
	cmd := c.Append("Nowhere", 5, nil)
	cmd.Write([]byte("hello"))
	cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Errorf("APPEND to a missing folder: %v", err)
	}
	r := e.rawLogin()
	// RFC 7889: over APPENDLIMIT is refused before the client sends the
	// literal (no "+" continuation).
	r.send("a APPEND INBOX {5001}")
	if l := r.line(); l != "a NO [TOOBIG] Literals are limited to 5000 bytes for this command" {
		t.Errorf("APPEND over the limit: %q", l)
	}
	if got := e.diskContents(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("refused APPENDs changed the store")
	}
	// The session goes on.
	r.send("c APPEND INBOX {5}")
	if l := r.line(); l != "+ Ready for literal data" {
		t.Fatalf("continuation: %q", l)
	}
	r.send("hello")
	if _, tagged := r.until("c"); !strings.HasPrefix(tagged, "c OK [APPENDUID ") {
		t.Errorf("small APPEND: %q", tagged)
	}
	// LITERAL+ (RFC 7888): a non-synchronizing literal up to the limit
	// is taken; one over it is refused and the connection closed, since
	// its octets are already on their way (literalguard.go).
	msg := "Subject: x\r\n\r\n" + strings.Repeat("y", 4100) + "\r\n"
	if _, tagged := r.cmd("d", fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(tagged, "d OK [APPENDUID ") {
		t.Errorf("LITERAL+ APPEND of %d octets: %q", len(msg), tagged)
	}
	after := e.diskContents()
	r.send("e APPEND INBOX {5001+}\r\n" + strings.Repeat("z", 5001))
	if l := r.line(); l != "e NO [TOOBIG] Literals are limited to 5000 bytes for this command" {
		t.Errorf("LITERAL+ APPEND over the limit: %q", l)
	}
	r.expectClosed()
	if got := e.diskContents(); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Errorf("the refused LITERAL+ APPEND changed the store")
	}
}

func TestAppendStoreTooBig(t *testing.T) {
	// The store's own limit, below APPENDLIMIT, is TOOBIG too.
	e := startEnv(t, envConfig{store: func(o *mailbox.Options) { o.MaxMessageSize = 100 }})
	r := e.rawLogin()
	msg := simple("big", strings.Repeat("x", 200)+"\r\n")
	r.send(fmt.Sprintf("a APPEND INBOX {%d}", len(msg)))
	if l := r.line(); l != "+ Ready for literal data" {
		t.Fatalf("continuation: %q", l)
	}
	r.send(msg)
	if _, tagged := r.until("a"); tagged != "a NO [TOOBIG] Message too big" {
		t.Errorf("APPEND over the store limit: %q", tagged)
	}
	if got := e.diskContents(); len(got) != 0 {
		t.Errorf("refused APPEND stored %d files", len(got))
	}
}

// userTmp lists what is left in the test user's INBOX tmp/.
func (e *env) userTmp() []string {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.dir, "mail", "example.org", "alice", "tmp"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range ents {
		out = append(out, d.Name())
	}
	return out
}

// APPENDs refused for what they carry: flags a client may not set (RFC
// 9051 §6.3.12, §2.3.2), an empty message, NUL octets (RFC 9051 §4.3). The
// literal is read and dropped, nothing is stored, no partial file stays
// in tmp/, and the session goes on.
func TestAppendRefusedContent(t *testing.T) {
	e := newEnv(t, nil)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX") // creates the user's tree
	before := e.diskContents()
	tmpBefore := e.userTmp()
	longNUL := strings.Repeat("x", 70000) + "\x00" + "tail\r\n"
	for _, tc := range []struct{ cmd, want string }{
		{"APPEND INBOX (\\Recent) {3+}\r\nabc", `BAD [CLIENTBUG] \Recent cannot be stored`},
		{"APPEND INBOX (\\Seen \\recent) {3+}\r\nabc", `BAD [CLIENTBUG] \Recent cannot be stored`},
		{"APPEND INBOX (\\Seen \\Bogus) {3+}\r\nabc", `BAD [CLIENTBUG] Unknown system flag \Bogus`},
		{"APPEND INBOX (\\Seen) {0+}\r\n", "NO [CANNOT] Empty message not stored"},
		{"APPEND INBOX {0+}\r\n", "NO [CANNOT] Empty message not stored"},
		{"APPEND INBOX {14+}\r\nSubject: \x00\r\n\r\n", "NO [UNKNOWN-CTE] Message contains NUL octets; encode binary parts (base64) and try again"},
		// RFC 3516 literal8: the library does not tell it apart.
		{"APPEND INBOX ~{5+}\r\nh\x00llo", "NO [UNKNOWN-CTE] Message contains NUL octets; encode binary parts (base64) and try again"},
	} {
		_, tagged := r.cmd("a", tc.cmd)
		if got := strings.TrimPrefix(tagged, "a "); got != tc.want {
			t.Errorf("%.40q:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	// A NUL far into a synchronizing literal: the store has begun writing
	// when it is found.
	r.send(fmt.Sprintf("b APPEND INBOX {%d}", len(longNUL)))
	if l := r.line(); l != "+ Ready for literal data" {
		t.Fatalf("continuation: %q", l)
	}
	r.send(longNUL)
	if _, tagged := r.until("b"); !strings.HasPrefix(tagged, "b NO [UNKNOWN-CTE] ") {
		t.Errorf("APPEND with a late NUL: %q", tagged)
	}
	if got := e.diskContents(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("refused APPENDs changed the store: %d files", len(got))
	}
	if got := e.userTmp(); fmt.Sprint(got) != fmt.Sprint(tmpBefore) {
		t.Errorf("refused APPENDs left files in tmp/: %q", got)
	}
	// The literals were consumed: the session reads the next command.
	r.ok("c", "NOOP")
	if _, tagged := r.cmd("d", "APPEND INBOX ($Label1 \\Seen) {3+}\r\nabc"); !strings.HasPrefix(tagged, "d OK [APPENDUID ") {
		t.Errorf("good APPEND after refusals: %q", tagged)
	}
}
