package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDeliverRoundTrip(t *testing.T) {
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", (5<<20)/65+1)
	cases := []struct {
		name, in, disk, out string
	}{
		{"crlf", "Subject: x\r\n\r\nhello\r\n", "Subject: x\n\nhello\n", "Subject: x\r\n\r\nhello\r\n"},
		{"dot lines", "Subject: d\r\n\r\n.\r\n..\r\n.hidden\r\n", "Subject: d\n\n.\n..\n.hidden\n", "Subject: d\r\n\r\n.\r\n..\r\n.hidden\r\n"},
		{"bare lf becomes crlf", "A: b\n\nc\n", "A: b\n\nc\n", "A: b\r\n\r\nc\r\n"},
		// Delivery ends the last line (finalNewline); Append does not.
		{"no final eol", "A: b\r\n\r\nc", "A: b\n\nc\n", "A: b\r\n\r\nc\r\n"},
		{"bare cr kept", "A: b\r\n\r\nx\ry\r\n", "A: b\n\nx\ry\n", "A: b\r\n\r\nx\ry\r\n"},
		{"cr at end", "A\r", "A\r\n", "A\r\n"},
		{"5 MiB", "Subject: big\r\n\r\n" + big, "Subject: big\n\n" + strings.ReplaceAll(big, "\r\n", "\n"), "Subject: big\r\n\r\n" + big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, root := testStore(t, Options{})
			// One byte at a time for small inputs: CRLF split across reads.
			var r io.Reader = strings.NewReader(tc.in)
			if len(tc.in) < 1000 {
				r = iotest.OneByteReader(r)
			}
			if err := s.Deliver(context.Background(), []string{"alice@example.org"}, r); err != nil {
				t.Fatal(err)
			}
			inbox := userDir(root, "alice@example.org")
			fs := files(t, inbox)
			if len(fs) != 1 || !strings.HasPrefix(fs[0], "new/") {
				t.Fatalf("files: %v", fs)
			}
			disk, err := os.ReadFile(filepath.Join(inbox, fs[0]))
			if err != nil {
				t.Fatal(err)
			}
			if string(disk) != tc.disk {
				t.Fatalf("on disk %q, want %q", trunc(disk), trunc([]byte(tc.disk)))
			}
			key, _ := splitName(filepath.Base(fs[0]))
			sz, w := nameSizes(key)
			if sz != int64(len(tc.disk)) || w != int64(len(tc.out)) {
				t.Fatalf("name %s: S=%d W=%d, want %d %d", fs[0], sz, w, len(tc.disk), len(tc.out))
			}
			if tmp := tmpFiles(t, inbox); len(tmp) != 0 {
				t.Fatalf("tmp/ not empty: %v", tmp)
			}
			f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", true)
			ms := mustMessages(t, f)
			if len(ms) != 1 || ms[0].Size != int64(len(tc.out)) {
				t.Fatalf("messages %+v", ms)
			}
			got, size := readMsg(t, f, ms[0].UID)
			if got != tc.out || size != int64(len(tc.out)) {
				t.Fatalf("read %q (%d), want %q", trunc([]byte(got)), size, trunc([]byte(tc.out)))
			}
			st, _ := mustAccount(t, s, "alice@example.org").Status("INBOX")
			if st.Size != int64(len(tc.out)) || st.Messages != 1 || st.Unseen != 1 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func trunc(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + fmt.Sprintf("...(%d)", len(b))
	}
	return string(b)
}

// The reader returned by Open works with small reads too (an LF split
// from its CR by the caller's buffer).
func TestOpenSmallReads(t *testing.T) {
	s, _ := testStore(t, Options{})
	body := "A: b\n\nline1\nline2\r\n\n"
	mustDeliver(t, s, body, "alice@example.org")
	f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", true)
	ms := mustMessages(t, f)
	rc, size, err := f.Open(ms[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(iotest.OneByteReader(rc))
	if err != nil {
		t.Fatal(err)
	}
	want := "A: b\r\n\r\nline1\r\nline2\r\n\r\n"
	if string(got) != want || size != int64(len(want)) {
		t.Fatalf("got %q (%d)", got, size)
	}
}

func TestDeliverManyUsers(t *testing.T) {
	s, root := testStore(t, Options{})
	body := "Subject: all\r\n\r\nhi\r\n"
	mustDeliver(t, s, body, "alice@example.org", "bob@example.org", "ALICE@example.org", "carol@other.example")
	for _, u := range []string{"alice@example.org", "bob@example.org", "carol@other.example"} {
		fs := files(t, userDir(root, u))
		if len(fs) != 1 {
			t.Fatalf("%s: files %v", u, fs)
		}
		f := mustOpen(t, mustAccount(t, s, u), "INBOX", true)
		ms := mustMessages(t, f)
		if len(ms) != 1 || ms[0].UID != 1 {
			t.Fatalf("%s: %+v", u, ms)
		}
		if got, _ := readMsg(t, f, 1); got != body {
			t.Fatalf("%s: %q", u, got)
		}
	}
	// Hard links: one inode for all.
	a, _ := os.Stat(filepath.Join(userDir(root, "alice@example.org"), files(t, userDir(root, "alice@example.org"))[0]))
	b, _ := os.Stat(filepath.Join(userDir(root, "bob@example.org"), files(t, userDir(root, "bob@example.org"))[0]))
	if !os.SameFile(a, b) {
		t.Error("deliveries are not hard links of one file")
	}
	if tmp := tmpFiles(t, userDir(root, "alice@example.org")); len(tmp) != 0 {
		t.Fatalf("tmp/ not empty: %v", tmp)
	}
}

func TestDeliverReaderError(t *testing.T) {
	s, root := testStore(t, Options{})
	mustAccount(t, s, "alice@example.org")
	errLimit := errors.New("smtp: message too big")
	r := io.MultiReader(strings.NewReader("Subject: x\r\n\r\npartial"), iotest.ErrReader(errLimit))
	err := s.Deliver(context.Background(), []string{"alice@example.org", "bob@example.org"}, r)
	if err != errLimit {
		t.Fatalf("err = %v, want the reader's error unchanged", err)
	}
	for _, u := range []string{"alice@example.org", "bob@example.org"} {
		d := userDir(root, u)
		if fs := files(t, d); len(fs) != 0 {
			t.Fatalf("%s: files left: %v", u, fs)
		}
		if tmp := tmpFiles(t, d); len(tmp) != 0 {
			t.Fatalf("%s: tmp left: %v", u, tmp)
		}
	}
	st, err := mustAccount(t, s, "alice@example.org").Status("INBOX")
	if err != nil || st.Messages != 0 || st.UIDNext != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestDeliverTooBig(t *testing.T) {
	s, root := testStore(t, Options{MaxMessageSize: 100})
	err := s.Deliver(context.Background(), []string{"alice@example.org"}, strings.NewReader(strings.Repeat("x\n", 33)+"xx"))
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("err = %v", err)
	}
	d := userDir(root, "alice@example.org")
	if fs, tmp := files(t, d), tmpFiles(t, d); len(fs)+len(tmp) != 0 {
		t.Fatalf("left: %v %v", fs, tmp)
	}
	// Exactly the limit (in CRLF octets, final line end included) is fine.
	mustDeliver(t, s, strings.Repeat("x\n", 32)+"xx\n", "alice@example.org")
	_, _, err = mustAccount(t, s, "alice@example.org").Append("INBOX", strings.NewReader(strings.Repeat("x", 101)), nil, timeZero)
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("append err = %v", err)
	}
}

func TestDeliverBadUser(t *testing.T) {
	s, root := testStore(t, Options{})
	for _, u := range []string{"../etc@example.org", "alice", "a@b@c", "alice@../x", ".a@example.org", "a/b@example.org", "a@example.org/..", "a\x00@x.org", "a b@x.org", "@x.org", "a@"} {
		err := s.Deliver(context.Background(), []string{"bob@example.org", u}, strings.NewReader("x\r\n"))
		if !errors.Is(err, ErrBadName) {
			t.Errorf("%q: err = %v", u, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "example.org", "bob")); err == nil {
		if fs := files(t, userDir(root, "bob@example.org")); len(fs) != 0 {
			t.Fatalf("delivered despite bad recipient: %v", fs)
		}
	}
	if err := s.Deliver(context.Background(), nil, strings.NewReader("x")); !errors.Is(err, ErrNoUser) {
		t.Fatalf("no users: %v", err)
	}
}

func TestDeliverCancelled(t *testing.T) {
	s, root := testStore(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Deliver(ctx, []string{"alice@example.org"}, strings.NewReader("x\r\n"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if fs := files(t, userDir(root, "alice@example.org")); len(fs) != 0 {
		t.Fatalf("left: %v", fs)
	}
}

// The UID is in the index file on disk when Deliver returns.
func TestDeliverIndexDurable(t *testing.T) {
	s, root := testStore(t, Options{})
	mustDeliver(t, s, "A: b\r\n\r\nc\r\n", "alice@example.org")
	mustDeliver(t, s, "A: b\r\n\r\nd\r\n", "alice@example.org")
	d, err := readIndexFile(filepath.Join(userDir(root, "alice@example.org"), indexFileName))
	if err != nil || d == nil {
		t.Fatal(d, err)
	}
	if !d.headerOK || len(d.msgs) != 2 || d.msgs[1] == nil || d.msgs[2] == nil || d.uidNext != 3 {
		t.Fatalf("index %+v", d)
	}
	fs := files(t, userDir(root, "alice@example.org"))
	if "new/"+d.msgs[1].name != fs[0] && "new/"+d.msgs[1].name != fs[1] {
		t.Fatalf("index names %q, files %v", d.msgs[1].name, fs)
	}
	if !bytes.HasSuffix(snapshotBytes(d), []byte("\n")) {
		t.Fatal("snapshot")
	}
}

// Mail delivered without a final line end (SMTP BDAT allows it) is stored
// as whole lines, so that POP3 LIST's size is what RETR sends; Append keeps
// the client's octets exactly.
func TestDeliverAddsFinalNewline(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Subject: x\r\n\r\nno newline at the end", "Subject: x\r\n\r\nno newline at the end\r\n"},
		{"Subject: x\r\n\r\nends well\r\n", "Subject: x\r\n\r\nends well\r\n"},
		{"Subject: x\n\nbare LF end\n", "Subject: x\r\n\r\nbare LF end\r\n"},
	} {
		// One octet at a time, so the end arrives in a read of its own.
		got, size := deliverAndRead(t, iotest.OneByteReader(strings.NewReader(tc.in)))
		if got != tc.want || size != int64(len(tc.want)) {
			t.Errorf("Deliver(%q): stored %q (size %d), want %q (size %d)", tc.in, got, size, tc.want, len(tc.want))
		}
		got, size = deliverAndRead(t, strings.NewReader(tc.in))
		if got != tc.want || size != int64(len(tc.want)) {
			t.Errorf("Deliver(%q) in one read: stored %q (size %d), want %q", tc.in, got, size, tc.want)
		}
	}
}

// deliverAndRead delivers r to a fresh store and reads the message back.
func deliverAndRead(t *testing.T, r io.Reader) (string, int64) {
	t.Helper()
	s, _ := testStore(t, Options{})
	if err := s.Deliver(context.Background(), []string{"u@example.org"}, r); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, mustAccount(t, s, "u@example.org"), "INBOX", true)
	ms := mustMessages(t, f)
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	got, size := readMsg(t, f, ms[0].UID)
	if ms[0].Size != size {
		t.Errorf("index size %d, read %d", ms[0].Size, size)
	}
	return got, ms[0].Size
}

// TestRemoveFiles: many files are removed by several workers, a file
// already gone is no error, and a path that cannot be removed is.
func TestRemoveFiles(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 1000} {
		dir := t.TempDir()
		var paths []string
		for i := range n {
			p := filepath.Join(dir, fmt.Sprintf("m%d", i))
			if i%7 != 3 { // every seventh is already gone
				if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			paths = append(paths, p)
		}
		if err := removeFiles(paths); err != nil {
			t.Fatalf("%d files: %v", n, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Fatalf("%d files: %d left", n, len(left))
		}
	}
	dir := t.TempDir()
	var paths []string
	for i := range 500 {
		p := filepath.Join(dir, fmt.Sprintf("m%d", i))
		os.WriteFile(p, []byte("x"), 0o600)
		paths = append(paths, p)
	}
	full := filepath.Join(dir, "full")
	os.MkdirAll(filepath.Join(full, "inside"), 0o700)
	paths = append(paths[:250:250], append([]string{full}, paths[250:]...)...)
	if err := removeFiles(paths); err == nil {
		t.Fatal("a directory with something in it was removed without error")
	}
	if _, err := os.Stat(filepath.Join(full, "inside")); err != nil {
		t.Fatalf("the directory's content: %v", err)
	}
}
