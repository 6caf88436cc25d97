package mailbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dovecotTree writes, by hand, a user's Maildir++ tree as Dovecot leaves
// it: Dovecot file names (",S=,W=:2,<flags>", keyword letters), its
// dovecot-uidlist, dovecot-keywords and index files, a version 2
// subscriptions file, and folders .Sent, .Spam, .Archive.2024 and a
// modified UTF-7 one. It returns the INBOX messages' contents by key.
func dovecotTree(t *testing.T, root string) map[string]string {
	t.Helper()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	maildir := func(dir string) {
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(root, dir, sub), 0o700)
		}
	}
	bodies := map[string]string{}
	msg := func(dir, sub, key, info, body string, sizes bool) {
		lf := strings.ReplaceAll(body, "\r\n", "\n")
		name := key
		if sizes {
			name = fmt.Sprintf("%s,S=%d,W=%d", key, len(lf), len(lf)+strings.Count(lf, "\n"))
		}
		if dir == "" {
			bodies[name] = body
		}
		if info != "" {
			name += ":" + info
		}
		write(filepath.Join(dir, sub, name), lf)
	}
	maildir("")
	msg("", "cur", "1700000001.M1P1.old", "2,S", "Subject: one\r\n\r\nfirst\r\n", true)
	msg("", "cur", "1700000002.M2P1.old", "2,FRab", "Subject: two\r\n\r\nsecond\r\n", true)
	msg("", "new", "1700000003.M3P1.old", "", "Subject: three\r\n\r\nthird\r\n", true)
	msg("", "cur", "1700000004.M4P1.old", "2,T", "Subject: four\r\n\r\nfourth\r\n", false)
	msg("", "cur", "1700000005.M5P1.old", "2,", "Subject: five\r\n\r\nnot in the uidlist\r\n", true)
	inbox := map[string]string{}
	for name := range bodies {
		unique, _, _ := strings.Cut(name, ",")
		inbox[unique] = name // the file's key, by its unique part
	}
	write("dovecot-uidlist", "3 V1600000000 N20 G3085f01b7f11094c501100008c4a11c1\n"+
		"3 :"+inbox["1700000001.M1P1.old"]+"\n"+
		"7 W40 :"+inbox["1700000002.M2P1.old"]+":2,FRab\n"+
		"11 :"+inbox["1700000003.M3P1.old"]+"\n"+
		"12 :1700000004.M4P1.old\n"+
		"15 :1690000000.M9P9.gone,S=10\n"+
		"garbage line\n")
	write("dovecot-keywords", "0 $Label1\n1 Work\n3 bad(keyword\n")
	write("dovecot.index", "\x00\x01binary")
	write("dovecot.index.log", "\x00\x02binary")
	write("dovecot-uidvalidity", "5f5e1000")
	write("dovecot-uidvalidity.5f5e1000", "")
	write("subscriptions", "V\t2\n\nSent\nArchive\t2024\nINBOX\nCaf&AOk-\nNo\tSuch\n")

	maildir(".Sent")
	write(".Sent/maildirfolder", "")
	msg(".Sent", "cur", "1700000010.M10P1.old", "2,S", "Subject: sent 1\r\n\r\nx\r\n", false)
	msg(".Sent", "cur", "1700000011.M11P1.old", "2,S", "Subject: sent 2\r\n\r\ny\r\n", false)
	write(".Sent/dovecot-uidlist", "1 1600000001 3\n1 1700000010.M10P1.old\n2 1700000011.M11P1.old\n")
	maildir(".Spam")
	write(".Spam/maildirfolder", "")
	maildir(".Archive.2024")
	write(".Archive.2024/maildirfolder", "")
	msg(".Archive.2024", "new", "1700000020.M20P1.old", "", "Subject: archived\r\n\r\nz\r\n", true)
	maildir(".Caf&AOk-")
	write(".Caf&AOk-/maildirfolder", "")
	return bodies
}

func TestDovecotTreeServed(t *testing.T) {
	dir := t.TempDir()
	root := userDir(dir, "alice@example.org")
	bodies := dovecotTree(t, root)
	s := openAt(t, dir, Options{})
	a := mustAccount(t, s, "alice@example.org")

	list, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fi := range list {
		got = append(got, fmt.Sprintf("%s %s %v", fi.Name, fi.SpecialUse, fi.Subscribed))
	}
	want := []string{
		"INBOX  true", `Archive \Archive true`, "Archive/2024  true", "Café  true",
		`Drafts \Drafts true`, `Sent \Sent true`, `Spam \Junk false`, `Trash \Trash true`,
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("folders:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	subs, _ := a.Subscriptions()
	if strings.Join(subs, ",") != "INBOX,Archive,Archive/2024,Café,Drafts,No/Such,Sent,Trash" {
		t.Fatalf("subscriptions %q", subs)
	}

	// INBOX keeps Dovecot's UIDVALIDITY and UIDs; the file it did not
	// list gets the next UID; flags and keywords are the file names'.
	f := mustOpen(t, a, "INBOX", false)
	if f.UIDValidity() != 1600000000 {
		t.Fatalf("UIDVALIDITY %d", f.UIDValidity())
	}
	ms := mustMessages(t, f)
	wantFlags := map[uint32]string{
		3:  `\Seen`,
		7:  `$Label1 Work \Answered \Flagged`,
		11: ``,
		12: `\Deleted`,
		20: ``,
	}
	if !equalUIDs(uidsOf(ms), []uint32{3, 7, 11, 12, 20}) {
		t.Fatalf("uids %v", uidsOf(ms))
	}
	for _, m := range ms {
		if strings.Join(m.Flags, " ") != wantFlags[m.UID] {
			t.Errorf("uid %d flags %q, want %q", m.UID, m.Flags, wantFlags[m.UID])
		}
		content, size := readMsg(t, f, m.UID)
		if m.Size != size || size != int64(len(content)) {
			t.Errorf("uid %d: size %d, read %d octets", m.UID, m.Size, len(content))
		}
		found := false
		for _, b := range bodies {
			found = found || b == content
		}
		if !found {
			t.Errorf("uid %d: content %q not one of the tree's", m.UID, content)
		}
	}
	st, _ := a.Status("INBOX")
	if st.UIDNext != 21 || st.Messages != 5 || st.Unseen != 4 {
		t.Fatalf("status %+v", st)
	}
	sent := mustOpen(t, a, "Sent", true)
	if sent.UIDValidity() != 1600000001 || !equalUIDs(uidsOf(mustMessages(t, sent)), []uint32{1, 2}) {
		t.Fatalf("Sent: %d %v", sent.UIDValidity(), uidsOf(mustMessages(t, sent)))
	}
	if ms := mustMessages(t, mustOpen(t, a, "Archive/2024", true)); len(ms) != 1 || len(ms[0].Flags) != 0 {
		t.Fatalf("Archive/2024: %+v", ms)
	}

	// A flag change renames the file without the keyword letters (the
	// keywords now live in our index).
	if _, err := f.SetFlags([]uint32{7}, FlagsAdd, []string{FlagSeen}); err != nil {
		t.Fatal(err)
	}
	var renamed string
	for _, n := range files(t, root) {
		if strings.Contains(n, "1700000002.M2P1.old") {
			renamed = n
		}
	}
	if !strings.HasSuffix(renamed, ":2,FRS") {
		t.Fatalf("renamed to %q", renamed)
	}
	f.Close()
	sent.Close()
	s.Close()

	// A restart serves the same from our own index; a new folder gets a
	// UIDVALIDITY no Dovecot folder had.
	s = openAt(t, dir, Options{})
	a = mustAccount(t, s, "alice@example.org")
	f = mustOpen(t, a, "INBOX", true)
	ms2 := mustMessages(t, f)
	if f.UIDValidity() != 1600000000 || !equalUIDs(uidsOf(ms2), uidsOf(ms)) {
		t.Fatalf("after restart: %d %v", f.UIDValidity(), uidsOf(ms2))
	}
	if strings.Join(ms2[1].Flags, " ") != `$Label1 Work \Answered \Flagged \Seen` {
		t.Fatalf("after restart uid 7: %q", ms2[1].Flags)
	}
	if err := a.Create("New", ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status("New"); st.UIDValidity <= 1600000001 {
		t.Fatalf("new folder UIDVALIDITY %d", st.UIDValidity)
	}
}

func TestParseDovecotUIDList(t *testing.T) {
	for _, c := range []struct {
		in   string
		uv   uint32
		next uint32
		keys string
	}{
		{"3 V5 N9 Gx\n1 :a:2,S\n4 W3 S2 :b,S=2\n", 5, 9, "a=1 b,S=2=4"},
		{"3 N2 V5\n7 :c\n", 5, 8, "c=7"},
		{"1 6 3\n1 d\n2 e:2,F\n", 6, 3, "d=1 e=2"},
		{"3 N2\n1 :a\n", 0, 0, ""},             // no UIDVALIDITY
		{"9 V1 N1\n", 0, 0, ""},                // unknown version
		{"3 V5 N2\n1 :a\n1 :b\n", 5, 2, "a=1"}, // a UID twice: the first
	} {
		d := parseDovecotUIDList([]byte(c.in))
		if c.uv == 0 {
			if d != nil {
				t.Errorf("%q: parsed %+v", c.in, d)
			}
			continue
		}
		if d == nil || d.uidValidity != c.uv || d.uidNext != c.next {
			t.Errorf("%q: %+v", c.in, d)
			continue
		}
		var keys []string
		for _, k := range sortedKeys(d.byKey) {
			keys = append(keys, fmt.Sprintf("%s=%d", k, d.byKey[k]))
		}
		if strings.Join(keys, " ") != c.keys {
			t.Errorf("%q: keys %q, want %q", c.in, keys, c.keys)
		}
	}
}

// FuzzDovecotUIDList: any bytes parse without panic; every UID found is
// below the next UID and names one key.
func FuzzDovecotUIDList(f *testing.F) {
	f.Add([]byte("3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n25006 :1276528487.M364837P9451.kurkku,S=1355,W=1394:2,\n25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n"))
	f.Add([]byte("1 1600000001 3\n1 1700000010.M10P1.old\n2 x\n"))
	f.Add([]byte("3 V1 N4294967295\n4294967294 :a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := parseDovecotUIDList(data)
		if d == nil {
			return
		}
		seen := map[uint32]bool{}
		for k, uid := range d.byKey {
			if uid == 0 || uid >= d.uidNext && d.uidNext != 0 || seen[uid] || !validFileName(k) {
				t.Fatalf("key %q uid %d (next %d)", k, uid, d.uidNext)
			}
			seen[uid] = true
		}
	})
}
