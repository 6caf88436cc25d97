package main

// The crash harness's checks must fail when the store is wrong: each
// kind of damage it looks for, made by hand on a store built here.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeStore writes Maildir files the way the server does (LF line ends,
// sizes in the name) for the harness's checks.
type fakeStore struct {
	t       *testing.T
	dataDir string
	n       int
}

func (f *fakeStore) dir(user, folder string) string {
	local, domain, _ := strings.Cut(user, "@")
	d := filepath.Join(f.dataDir, "mail", domain, local)
	if folder != "INBOX" {
		d = filepath.Join(d, "."+folder)
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(d, sub), 0o700)
	}
	return d
}

// put stores msg (CRLF) in folder's sub (new or cur) and returns the
// file's path.
func (f *fakeStore) put(user, folder, sub string, msg []byte, info string) string {
	f.n++
	lf := bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	name := fmt.Sprintf("1700000000.M%dP1Q%d.host,S=%d,W=%d%s", f.n, f.n, len(lf), len(msg), info)
	p := filepath.Join(f.dir(user, folder), sub, name)
	if err := os.WriteFile(p, lf, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func smtpStored(id string) []byte {
	return append([]byte("Return-Path: <sender@crash.test>\r\nReceived: from x by y; Thu, 03 Dec 2026 12:00:00 +0000\r\n"), crashMessage(id)...)
}

func wantError(t *testing.T, what string, errs []string, substr string) {
	t.Helper()
	for _, e := range errs {
		if strings.Contains(e, substr) {
			return
		}
	}
	t.Errorf("%s: no error containing %q in %q", what, substr, errs)
}

func TestCrashCheckersCatchDamage(t *testing.T) {
	f := &fakeStore{t: t, dataDir: t.TempDir()}
	users := []string{"u0@example.org"}
	inbox, archive := crashFolderName(users[0], "INBOX"), crashFolderName(users[0], "Archive")
	m := newCrashModel()
	for _, id := range []string{"a", "b", "c"} {
		m.attempt(id, inbox, true)
		m.ack(id, 0, 0, 0)
	}
	m.attempt("d", archive, false)
	m.ack("d", 7, 1, 0)
	pa := f.put(users[0], "INBOX", "new", smtpStored("a"), "")
	f.put(users[0], "INBOX", "cur", smtpStored("b"), ":2,F")
	pc := f.put(users[0], "INBOX", "new", smtpStored("c"), "")
	f.put(users[0], "Archive", "cur", crashMessage("d"), ":2,S")

	seen, _, errs := scanDisk(f.dataDir, users, m)
	errs = append(errs, m.checkPresence(seen, false)...)
	if len(errs) != 0 {
		t.Fatalf("a sound store: %q", errs)
	}

	// A partial file (cut short, as a crash mid-write would leave it).
	data, _ := os.ReadFile(pa)
	os.WriteFile(pa, data[:len(data)/2], 0o600)
	seen, _, errs = scanDisk(f.dataDir, users, m)
	wantError(t, "truncated file", errs, "partial or grown file")
	wantError(t, "truncated file", m.checkPresence(seen, false), "a: lost")
	os.WriteFile(pa, data, 0o600)

	// A changed byte with the sizes intact.
	bad := bytes.Clone(data)
	bad[bytes.LastIndexAny(bad, "abcdefghijklmnopqrstuvwxyz")] ^= 0x20 // a letter changes case
	os.WriteFile(pa, bad, 0o600)
	_, _, errs = scanDisk(f.dataDir, users, m)
	wantError(t, "changed byte", errs, "bytes differ")
	os.WriteFile(pa, data, 0o600)

	// A message stored twice, one lost, one in the wrong folder, one that
	// nobody sent.
	f.put(users[0], "INBOX", "cur", smtpStored("b"), ":2,")
	os.Remove(pc)
	f.put(users[0], "Archive", "new", smtpStored("c"), "")
	f.put(users[0], "INBOX", "new", smtpStored("zz"), "")
	seen, _, errs = scanDisk(f.dataDir, users, m)
	errs = append(errs, m.checkPresence(seen, false)...)
	wantError(t, "duplicate", errs, "b: stored 2 times")
	wantError(t, "wrong folder", errs, "c: found in u0@example.org/Archive, sent to u0@example.org/INBOX")
	wantError(t, "stranger", errs, "zz: a message nobody sent")

	// An expunge answered OK whose message is still there; a \Flagged
	// answered OK and gone.
	m.mark([]string{"a"}, true, true)
	m.mark([]string{"d"}, false, true)
	errs = m.checkPresence(map[string][]found{"a": {{folder: inbox, where: "x"}}, "d": {{folder: archive, where: "y"}}}, true)
	wantError(t, "expunged", errs, "a: expunged (UID EXPUNGE answered OK) but still there")
	wantError(t, "flag", errs, `d: \Flagged was stored (OK) but is gone`)

	// UIDs: reused, changed, UIDVALIDITY changed, APPENDUID not above.
	m.observe(archive, 7, 1, "d")
	m.observe(archive, 7, 1, "c")
	m.observe(archive, 7, 2, "d")
	m.observe(archive, 8, 3, "d")
	m.attempt("e", archive, false)
	m.ack("e", 7, 2, 2)
	errs = m.takeErrors()
	wantError(t, "reuse", errs, "UID 1 reused: it was d, now c")
	wantError(t, "changed UID", errs, "d changed UID from 1 to 2")
	wantError(t, "UIDVALIDITY", errs, "UIDVALIDITY changed from 7 to 8")
	wantError(t, "APPENDUID", errs, "APPENDUID 2 is not above UID 2")
}

func TestCrashIndexCheck(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"cur", "new"} {
		os.Mkdir(filepath.Join(dir, sub), 0o700)
	}
	write := func(s string) { os.WriteFile(filepath.Join(dir, "mailsuite-uidlist"), []byte(s), 0o600) }
	df := &diskFolder{name: "u/INBOX", dir: dir, files: map[string]string{"new/k1,S=1,W=1": "a", "cur/k2,S=1,W=1:2,S": "b"}}
	good := "mailsuite-uidlist 1 77 3 5\n" +
		"A 1 1 n 1 1 1700000000 0 - k1,S=1,W=1\n" +
		"A 2 2 n 1 1 1700000000 0 - k2,S=1,W=1\n" +
		"T 1 2\n" +
		"A 2 3 c 1 1 1700000000 0 - k2,S=1,W=1:2,S\n" +
		"A 3 4 n 1 1 1700000000 0 - k3,S=1,W=1\n" +
		"X 3 5\n"
	write(good)
	if errs := checkIndex(df, 77, 4, map[uint32]string{1: "a", 2: "b"}); len(errs) != 0 {
		t.Fatalf("a sound index: %q", errs)
	}
	wantError(t, "UIDNEXT", checkIndex(df, 77, 3, map[uint32]string{1: "a", 2: "b"}), "UIDNEXT 3 is below the index's 4")
	wantError(t, "UIDVALIDITY", checkIndex(df, 78, 4, map[uint32]string{1: "a", 2: "b"}), "UIDVALIDITY 77, IMAP says 78")
	wantError(t, "IMAP view", checkIndex(df, 77, 4, map[uint32]string{1: "b", 2: "b"}), "UID 1 is b over IMAP but a on disk")
	df.files["new/k4,S=1,W=1"] = "c"
	wantError(t, "file without UID", checkIndex(df, 77, 4, map[uint32]string{1: "a", 2: "b"}), "new/k4,S=1,W=1 has no UID")
	delete(df.files, "new/k4,S=1,W=1")
	write(good + "A 4 6 n 1 1 1700000000 0 - gone,S=1,W=1\n")
	wantError(t, "missing file", checkIndex(df, 77, 5, map[uint32]string{1: "a", 2: "b", 4: "c"}), "UID 4 names new/gone,S=1,W=1, which is not there")
	write(good + "A 4 6 n 1 1")
	wantError(t, "torn", checkIndex(df, 77, 5, map[uint32]string{1: "a", 2: "b"}), "is torn")
}
