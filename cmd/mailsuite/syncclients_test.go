package main

// Real IMAP clients that keep state between runs, against the real binary
// (issue 3, "How it is tested"): mbsync (package isync) doing a full sync,
// an incremental sync after changes on both sides and a no-op sync; and
// imapflow from npm fetching the envelopes and body structures of a
// multipart message with a UTF-8 subject. .ci/run installs both.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// imapLogin logs in over STARTTLS, trusting the server's certificate.
func syncLogin(t *testing.T, in *instance, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: in.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	return c
}

func imapAppend(t *testing.T, c *imapclient.Client, folder, msg string, flags ...imap.Flag) {
	t.Helper()
	cmd := c.Append(folder, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	io.WriteString(cmd, msg)
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND to %s: %v", folder, err)
	}
}

// serverState describes a folder as the server shows it: each message's
// subject and flags (sorted), and UIDNEXT.
func serverState(t *testing.T, c *imapclient.Client, folder string) (msgs []string, uidNext uint32) {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("EXAMINE %s: %v", folder, err)
	}
	if sel.NumMessages > 0 {
		hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
		fetched, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: sel.NumMessages}}, &imap.FetchOptions{
			UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{hdr},
		}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fetched {
			var flags []string
			for _, f := range m.Flags {
				flags = append(flags, string(f))
			}
			sort.Strings(flags)
			subject := strings.TrimSpace(strings.TrimPrefix(string(m.FindBodySection(hdr)), "Subject:"))
			msgs = append(msgs, fmt.Sprintf("%s %v", subject, flags))
		}
	}
	sort.Strings(msgs)
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	return msgs, uint32(sel.UIDNext)
}

// localState describes a local Maildir as mbsync left it: each message's
// subject and its Maildir flag letters.
func localState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			subject := ""
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "Subject: ") {
					subject = strings.TrimSpace(strings.TrimPrefix(l, "Subject: "))
					break
				}
			}
			_, info, _ := strings.Cut(e.Name(), ":2,")
			out = append(out, subject+" "+info)
		}
	}
	sort.Strings(out)
	return out
}

// localFiles lists every file of a local tree with its size (no-op check).
func localFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.Contains(p, ".mbsyncstate") && !strings.Contains(p, ".uidvalidity") {
			out = append(out, fmt.Sprintf("%s %d", strings.TrimPrefix(p, root), info.Size()))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func syncMsg(subject string) string {
	return "From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.net>\r\n\r\nbody of " + subject + "\r\n"
}

func TestMbsync(t *testing.T) {
	mbsync := needTool(t, "mbsync")
	in := newInstance(t, "")
	in.addUser("alice@example.org", "alice-pw")
	in.start()
	in.waitLog("mailsuite ready")

	c := syncLogin(t, in, "alice@example.org", "alice-pw")
	imapAppend(t, c, "INBOX", syncMsg("one"), imap.FlagSeen)
	imapAppend(t, c, "INBOX", syncMsg("two"))
	imapAppend(t, c, "INBOX", syncMsg("three"), imap.FlagFlagged)
	imapAppend(t, c, "Archive", syncMsg("archived"), imap.FlagSeen)

	local := filepath.Join(in.dir, "local")
	os.MkdirAll(local, 0o700)
	host, port := hostPort(in.addr["imap"])
	conf := filepath.Join(in.dir, "mbsyncrc")
	os.WriteFile(conf, []byte(fmt.Sprintf(`IMAPAccount remote
Host %s
Port %s
User alice@example.org
Pass alice-pw
SSLType STARTTLS
CertificateFile %s

IMAPStore remote
Account remote

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
`, host, port, in.certFile(), local, local)), 0o600)
	run := func() string {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", conf, "-V", "-a")
		cmd.Env = append(os.Environ(), "HOME="+in.dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		return string(out)
	}

	// Full sync: every message and flag comes down.
	run()
	if got := localState(t, filepath.Join(local, "INBOX")); strings.Join(got, "|") != "one S|three F|two " {
		t.Fatalf("local INBOX after the full sync: %q", got)
	}
	if got := localState(t, filepath.Join(local, "Archive")); strings.Join(got, "|") != "archived S" {
		t.Fatalf("local Archive after the full sync: %q", got)
	}

	// Changes on both sides. Server: "two" seen, "three" expunged, "four"
	// delivered. Local: "five" added, "one" flagged, "archived" deleted.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	uidOf := func(subject string) imap.UID {
		t.Helper()
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}}, nil).Wait()
		if err != nil || len(data.AllUIDs()) != 1 {
			t.Fatalf("search %q: %v %v", subject, data, err)
		}
		return data.AllUIDs()[0]
	}
	if err := c.Store(imap.UIDSetNum(uidOf("two")), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(uidOf("three")), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	imapAppend(t, c, "INBOX", syncMsg("four"))
	os.WriteFile(filepath.Join(local, "INBOX", "new", "1700000000.local1.host"), []byte(strings.ReplaceAll(syncMsg("five"), "\r\n", "\n")), 0o600)
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(local, "INBOX", sub))
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(local, "INBOX", sub, e.Name()))
			if strings.Contains(string(b), "Subject: one\n") {
				// "one" is seen ("S"): add F in ASCII order.
				name := strings.Replace(e.Name(), ":2,S", ":2,FS", 1)
				if err := os.Rename(filepath.Join(local, "INBOX", sub, e.Name()), filepath.Join(local, "INBOX", "cur", name)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(local, "Archive", sub))
		for _, e := range ents {
			os.Remove(filepath.Join(local, "Archive", sub, e.Name()))
		}
	}

	run()
	wantServer := []string{`five []`, `four []`, `one [\Flagged \Seen]`, `two [\Seen]`}
	got, _ := serverState(t, c, "INBOX")
	if strings.Join(got, "|") != strings.Join(wantServer, "|") {
		t.Fatalf("server INBOX after the incremental sync:\n%q\nwant\n%q", got, wantServer)
	}
	if got, _ := serverState(t, c, "Archive"); len(got) != 0 {
		t.Fatalf("server Archive after a local delete: %q", got)
	}
	if got := localState(t, filepath.Join(local, "INBOX")); strings.Join(got, "|") != "five |four |one FS|two S" {
		t.Fatalf("local INBOX after the incremental sync: %q", got)
	}

	// No-op sync: nothing changes on either side (no new UID handed out,
	// no flag touched, no local file renamed).
	beforeServer, beforeNext := serverState(t, c, "INBOX")
	beforeLocal := localFiles(t, local)
	out := run()
	afterServer, afterNext := serverState(t, c, "INBOX")
	if strings.Join(afterServer, "|") != strings.Join(beforeServer, "|") || afterNext != beforeNext {
		t.Fatalf("no-op sync changed the server: %q (UIDNEXT %d) -> %q (%d)", beforeServer, beforeNext, afterServer, afterNext)
	}
	if after := localFiles(t, local); strings.Join(after, "|") != strings.Join(beforeLocal, "|") {
		t.Fatalf("no-op sync changed local files:\n%q\n->\n%q", beforeLocal, after)
	}
	if strings.Contains(out, "Error") || strings.Contains(out, "error") {
		t.Fatalf("mbsync reported an error:\n%s", out)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}

// imapflowDir returns a directory whose node_modules holds imapflow: the
// one .ci/run prepared (MAILSUITE_NODE_MODULES), or a fresh npm install.
func imapflowDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MAILSUITE_NODE_MODULES"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "node_modules", "imapflow")); err == nil {
			return d
		}
	}
	npm := needTool(t, "npm")
	dir := t.TempDir()
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--silent", "imapflow@2")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("MAILSUITE_REQUIRE_CLIENTS") == "1" {
			t.Fatalf("npm install imapflow: %v\n%s", err, out)
		}
		t.Skipf("npm install imapflow failed (offline?): %v\n%s", err, out)
	}
	return dir
}

const imapflowScript = `
const fs = require('fs');
const { ImapFlow } = require('imapflow');
(async () => {
  const client = new ImapFlow({
    host: process.env.HOST, port: Number(process.env.PORT), secure: false, doSTARTTLS: true,
    auth: { user: 'alice@example.org', pass: 'alice-pw' },
    tls: { ca: [fs.readFileSync(process.env.CERT)], servername: 'mail.example.org' },
    logger: false,
  });
  await client.connect();
  const lock = await client.getMailboxLock('INBOX');
  const out = [];
  try {
    for await (const msg of client.fetch('1:*', { uid: true, envelope: true, bodyStructure: true })) {
      out.push({ uid: msg.uid, envelope: msg.envelope, bodyStructure: msg.bodyStructure });
    }
  } finally {
    lock.release();
  }
  await client.logout();
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
`

func TestImapflow(t *testing.T) {
	node := needTool(t, "node")
	dir := imapflowDir(t)
	in := newInstance(t, "")
	in.addUser("alice@example.org", "alice-pw")
	in.start()
	in.waitLog("mailsuite ready")

	const subject = "Grüße aus Köln ✉ — 日本語"
	multipart := "From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.net>\r\n" +
		"To: Alice <alice@example.org>\r\n" +
		"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4pyJIOKAlCDml6XmnKzoqp4=?=\r\n" +
		"Date: Tue, 07 Mar 2023 10:00:00 +0100\r\n" +
		"Message-ID: <multi@example.net>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n" +
		"--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Grüße</p>\r\n" +
		"--inner--\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=\"bericht.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"bericht.pdf\"\r\n\r\nJVBERi0xLjQK\r\n" +
		"--outer--\r\n"
	// The same subject as raw UTF-8 (RFC 6532), which the server sends
	// as UTF-8 or encoded, as the client enabled UTF8=ACCEPT or not.
	raw8bit := "From: juergen@example.net\r\nTo: alice@example.org\r\nSubject: " + subject +
		"\r\nMessage-ID: <raw@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n"
	c := syncLogin(t, in, "alice@example.org", "alice-pw")
	imapAppend(t, c, "INBOX", multipart)
	imapAppend(t, c, "INBOX", raw8bit)

	host, port := hostPort(in.addr["imap"])
	script := filepath.Join(dir, "fetch.js")
	os.WriteFile(script, []byte(imapflowScript), 0o600)
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOST="+host, "PORT="+port, "CERT="+in.certFile())
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("imapflow: %v\n%s%s", err, out, stderr)
	}
	type part struct {
		Part        string            `json:"part"`
		Type        string            `json:"type"`
		Parameters  map[string]string `json:"parameters"`
		Encoding    string            `json:"encoding"`
		Disposition string            `json:"disposition"`
		DispParams  map[string]string `json:"dispositionParameters"`
		ChildNodes  []part            `json:"childNodes"`
	}
	var got []struct {
		UID      uint32 `json:"uid"`
		Envelope struct {
			Subject   string `json:"subject"`
			MessageID string `json:"messageId"`
			From      []struct {
				Name    string `json:"name"`
				Address string `json:"address"`
			} `json:"from"`
		} `json:"envelope"`
		BodyStructure part `json:"bodyStructure"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("imapflow output: %v\n%s", err, out)
	}
	if len(got) != 2 {
		t.Fatalf("imapflow fetched %d messages:\n%s", len(got), out)
	}
	for i, m := range got {
		if m.Envelope.Subject != subject {
			t.Errorf("message %d: subject %q, want %q", i+1, m.Envelope.Subject, subject)
		}
	}
	m := got[0]
	if m.Envelope.MessageID != "<multi@example.net>" || len(m.Envelope.From) != 1 ||
		m.Envelope.From[0].Name != "Jürgen" || m.Envelope.From[0].Address != "juergen@example.net" {
		t.Errorf("envelope: %+v", m.Envelope)
	}
	bs := m.BodyStructure
	if bs.Type != "multipart/mixed" || len(bs.ChildNodes) != 2 {
		t.Fatalf("body structure: %s", out)
	}
	alt, pdf := bs.ChildNodes[0], bs.ChildNodes[1]
	if alt.Type != "multipart/alternative" || len(alt.ChildNodes) != 2 ||
		alt.ChildNodes[0].Part != "1.1" || alt.ChildNodes[0].Type != "text/plain" || alt.ChildNodes[0].Encoding != "quoted-printable" ||
		alt.ChildNodes[0].Parameters["charset"] != "utf-8" || alt.ChildNodes[1].Part != "1.2" || alt.ChildNodes[1].Type != "text/html" {
		t.Errorf("alternative part: %+v", alt)
	}
	if pdf.Part != "2" || pdf.Type != "application/pdf" || pdf.Encoding != "base64" || pdf.Disposition != "attachment" ||
		pdf.DispParams["filename"] != "bericht.pdf" || pdf.Parameters["name"] != "bericht.pdf" {
		t.Errorf("attachment part: %+v", pdf)
	}
	if got[1].BodyStructure.Type != "text/plain" {
		t.Errorf("second message: %+v", got[1].BodyStructure)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}

// A Dovecot Maildir++ tree copied into the data directory before
// `mailsuite serve` starts is served: every message, with its UID,
// UIDVALIDITY, flags and keywords, and the folders and subscriptions.
func TestDovecotTreeAfterStart(t *testing.T) {
	in := newInstance(t, "")
	in.addUser("alice@example.org", "alice-pw")
	root := filepath.Join(in.dataDir, "mail", "example.org", "alice")
	if _, err := os.Stat(filepath.Join(root, "mailsuite-specialuse")); err == nil {
		t.Fatal("user add made the mail tree already; the copy would not be a first start")
	}
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"", ".Sent"} {
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(root, d, sub), 0o700)
		}
	}
	one := "Subject: one\n\nfirst\n"
	two := "Subject: two\n\nsecond\n"
	name1 := fmt.Sprintf("1700000001.M1P1.dovecot,S=%d,W=%d", len(one), len(one)+3)
	name2 := fmt.Sprintf("1700000002.M2P1.dovecot,S=%d,W=%d", len(two), len(two)+3)
	write("cur/"+name1+":2,RSa", one)
	write("new/"+name2, two)
	write("dovecot-uidlist", "3 V1500000000 N42 Gabc\n17 :"+name1+"\n40 W24 :"+name2+"\n")
	write("dovecot-keywords", "0 $Important\n")
	write("dovecot.index.log", "\x00binary")
	write("subscriptions", "V\t2\n\nINBOX\nSent\n")
	write(".Sent/maildirfolder", "")
	write(".Sent/cur/1700000003.M3P1.dovecot:2,S", "Subject: sent\n\nx\n")

	in.start()
	in.waitLog("mailsuite ready")
	c := syncLogin(t, in, "alice@example.org", "alice-pw")
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.UIDValidity != 1500000000 || sel.NumMessages != 2 || sel.UIDNext != 42 {
		t.Fatalf("SELECT INBOX: %+v", sel)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 2}}, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%d %v %d", m.UID, m.Flags, m.RFC822Size))
	}
	want := fmt.Sprintf(`17 [$Important \Answered \Seen] %d|40 [] %d`, len(one)+3, len(two)+3)
	if strings.Join(got, "|") != want {
		t.Fatalf("INBOX: %q, want %q", got, want)
	}
	st, err := c.Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 1 {
		t.Fatalf("STATUS Sent: %+v %v", st, err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range subs {
		names = append(names, l.Mailbox)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "Archive,Drafts,INBOX,Junk,Sent,Trash" {
		t.Fatalf("subscribed: %q", names)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}
}
