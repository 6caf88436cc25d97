package mailbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func metaOf(t testing.TB, f Folder) MetaFolder {
	t.Helper()
	mf, ok := f.(MetaFolder)
	if !ok {
		t.Fatal("Folder is not a MetaFolder")
	}
	return mf
}

func wantMeta(t testing.TB, f Folder, uid uint32, want string) {
	t.Helper()
	got, ok := metaOf(t, f).Meta(uid)
	if want == "" {
		if ok {
			t.Fatalf("uid %d: meta %q, want none", uid, got)
		}
		return
	}
	if !ok || string(got) != want {
		t.Fatalf("uid %d: meta %q %v, want %q", uid, got, ok, want)
	}
}

// Records survive a restart, follow copies and moves, and are dropped with
// the message.
func TestMetaCache(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	for i := 0; i < 3; i++ {
		mustDeliver(t, s, "Subject: m\r\n\r\nbody\r\n", "alice@example.org")
	}
	f := mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	mf := metaOf(t, f)
	wantMeta(t, f, 1, "")
	for uid := uint32(1); uid <= 3; uid++ {
		if err := mf.SetMeta(uid, []byte{'m', byte('0' + uid)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := mf.SetMeta(2, []byte("m2 again")); err != nil {
		t.Fatal(err)
	}
	if err := mf.SetMeta(9, []byte("x")); !isErr(err, ErrNoMessage) {
		t.Fatalf("SetMeta of a missing UID: %v", err)
	}
	if err := mf.SetMeta(1, make([]byte, MaxMetaSize+1)); !isErr(err, ErrTooBig) {
		t.Fatalf("SetMeta too big: %v", err)
	}
	wantMeta(t, f, 2, "m2 again")
	wantMeta(t, f, 9, "")
	// The last handle closing closes the file but keeps its places: the
	// next session does not read it again.
	f.Close()
	f = mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	mf = metaOf(t, f)
	wantMeta(t, f, 2, "m2 again")
	if n := f.(*handle).f.meta.loads; n != 1 {
		t.Fatalf("cache file read %d times", n)
	}

	// Copy and move take the records along to the new UIDs.
	_, _, dst, err := f.Copy([]uint32{1}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	_, _, mdst, err := f.Move([]uint32{3}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	arch := mustOpen(t, a, "Archive", true)
	mustMessages(t, arch)
	wantMeta(t, arch, dst[0], "m1")
	wantMeta(t, arch, mdst[0], "m3")

	// Expunged: gone.
	if _, err := f.SetFlags([]uint32{2}, FlagsAdd, []string{FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Expunge(nil); err != nil {
		t.Fatal(err)
	}
	wantMeta(t, f, 2, "")
	wantMeta(t, f, 1, "m1")
	f.Close()
	arch.Close()
	s.Close()

	// After a restart.
	s = openAt(t, root, Options{})
	a = mustAccount(t, s, "alice@example.org")
	f = mustOpen(t, a, "INBOX", true)
	wantMeta(t, f, 1, "m1")
	wantMeta(t, f, 2, "")
	arch = mustOpen(t, a, "Archive", true)
	wantMeta(t, arch, mdst[0], "m3")
	if _, err := os.Stat(filepath.Join(userDir(root, "alice@example.org"), ".Archive", metaFileName)); err != nil {
		t.Fatal(err)
	}
}

// A torn last record (a crash mid-append) is ignored and cut off; the
// records before it stay. A record made for another size is not served.
func TestMetaCacheTornAndStale(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	mustDeliver(t, s, "Subject: a\r\n\r\n", "alice@example.org")
	mustDeliver(t, s, "Subject: b\r\n\r\n", "alice@example.org")
	f := mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	metaOf(t, f).SetMeta(1, []byte("one"))
	metaOf(t, f).SetMeta(2, []byte("two"))
	f.Close()
	s.Close()
	path := filepath.Join(userDir(root, "alice@example.org"), metaFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the last record in half, then add garbage.
	torn := append(b[:len(b)-2], "zz\x00\x01"...)
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, root, Options{})
	a = mustAccount(t, s, "alice@example.org")
	f = mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	wantMeta(t, f, 1, "one")
	wantMeta(t, f, 2, "")
	if err := metaOf(t, f).SetMeta(2, []byte("two!")); err != nil {
		t.Fatal(err)
	}
	wantMeta(t, f, 2, "two!")
	f.Close()

	// The size the record was made for must match the message's.
	h := f.(*handle)
	h.u.mu.Lock()
	m := h.f.find(1)
	c := m.clone()
	c.size++
	_, ok := h.f.metaGetLocked(c)
	h.u.mu.Unlock()
	if ok {
		t.Fatal("record served for a message of another size")
	}
	s.Close()
	s = openAt(t, root, Options{})
	f = mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", true)
	wantMeta(t, f, 1, "one")
	wantMeta(t, f, 2, "two!")
}

// A rebuilt index under a new UIDVALIDITY empties the cache: its UIDs
// would name other messages.
func TestMetaCacheNewUIDValidity(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	mustDeliver(t, s, "Subject: a\r\n\r\n", "alice@example.org")
	f := mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	metaOf(t, f).SetMeta(1, []byte("one"))
	uv := f.UIDValidity()
	f.Close()
	s.Close()
	dir := userDir(root, "alice@example.org")
	if err := os.Remove(filepath.Join(dir, indexFileName)); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, root, Options{})
	f = mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", true)
	if f.UIDValidity() == uv {
		t.Fatal("same UIDVALIDITY after the index was lost")
	}
	mustMessages(t, f)
	wantMeta(t, f, 1, "")
}

// Dead records are compacted away once they outnumber the live ones.
func TestMetaCacheCompacts(t *testing.T) {
	s, root := testStore(t, Options{CompactMin: 10})
	a := mustAccount(t, s, "alice@example.org")
	for i := 0; i < 4; i++ {
		mustDeliver(t, s, "Subject: a\r\n\r\n", "alice@example.org")
	}
	f := mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	mf := metaOf(t, f)
	big := bytes.Repeat([]byte("x"), 1000)
	for i := 0; i < 30; i++ {
		if err := mf.SetMeta(uint32(1+i%4), append(big, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(filepath.Join(userDir(root, "alice@example.org"), metaFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 20*1100 {
		t.Fatalf("cache file of %d octets for 4 live records", st.Size())
	}
	for uid := uint32(1); uid <= 4; uid++ {
		got, ok := mf.Meta(uid)
		if !ok || len(got) != 1001 {
			t.Fatalf("uid %d lost in compaction", uid)
		}
	}
	wantMeta(t, f, 2, string(append(big, byte(29))))
}

// FuzzMetaFile: any bytes read without panic, and every record found lies
// within the file.
func FuzzMetaFile(f *testing.F) {
	good := []byte("mailsuite-cache 1 7\n")
	good = appendMetaRecord(good, 1, 10, []byte("hello"))
	good = appendMetaRecord(good, 2, 20, nil)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte("mailsuite-cache 1 7\nR\x00\x00\x00\x01"))
	f.Add([]byte("mailsuite-cache 1 8\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		refs, end, records, ok := readMetaFile(bytes.NewReader(data), 7)
		if !ok {
			return
		}
		if end > int64(len(data)) || records < len(refs) {
			t.Fatalf("end %d of %d, %d records, %d refs", end, len(data), records, len(refs))
		}
		for uid, r := range refs {
			if uid == 0 || r.off+int64(r.n) > end {
				t.Fatalf("ref %d %+v past end %d", uid, r, end)
			}
			rec := data[r.off-metaRecHeader : r.off+int64(r.n)]
			if metaSum(rec[1:17], rec[metaRecHeader:]) != uint32FromBE(rec[17:21]) {
				t.Fatalf("ref %d: bad checksum accepted", uid)
			}
		}
	})
}

func uint32FromBE(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Copies into a folder nobody has open are appended to its cache file
// without reading it; behind a torn tail they are only missing.
func TestMetaCacheAppendWithoutOpen(t *testing.T) {
	s, root := testStore(t, Options{})
	a := mustAccount(t, s, "alice@example.org")
	for i := 0; i < 3; i++ {
		mustDeliver(t, s, "Subject: m\r\n\r\nbody\r\n", "alice@example.org")
	}
	f := mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	for uid := uint32(1); uid <= 3; uid++ {
		metaOf(t, f).SetMeta(uid, []byte{'m', byte('0' + uid)})
	}
	_, _, d1, err := f.Copy([]uint32{1}, "Trash") // makes Trash's file
	if err != nil {
		t.Fatal(err)
	}
	_, _, d2, err := f.Copy([]uint32{2}, "Trash") // its places known: no read
	if err != nil {
		t.Fatal(err)
	}
	// After a restart Trash's records are unknown: a copy into it is
	// appended blindly.
	f.Close()
	s.Close()
	s = openAt(t, root, Options{})
	a = mustAccount(t, s, "alice@example.org")
	f = mustOpen(t, a, "INBOX", false)
	mustMessages(t, f)
	path := filepath.Join(userDir(root, "alice@example.org"), ".Trash", metaFileName)
	fh, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	fh.Write([]byte("R\x00\x00")) // a torn record
	fh.Close()
	_, _, d3, err := f.Copy([]uint32{3}, "Trash")
	if err != nil {
		t.Fatal(err)
	}
	trash := mustOpen(t, a, "Trash", true)
	mustMessages(t, trash)
	wantMeta(t, trash, d1[0], "m1")
	wantMeta(t, trash, d2[0], "m2")
	wantMeta(t, trash, d3[0], "") // behind the torn record
	if err := metaOf(t, f).SetMeta(3, []byte("m3")); err != nil {
		t.Fatal(err)
	}
	if _, _, d4, err := f.Copy([]uint32{3}, "Trash"); err != nil {
		t.Fatal(err)
	} else {
		wantMeta(t, trash, d4[0], "m3") // open now: the torn tail was cut
	}
}
