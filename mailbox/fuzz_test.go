package mailbox

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseIndex: any bytes parse without panic; what was read is written
// back as a snapshot that parses to the same thing.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte("mailsuite-uidlist 1 1700000000 5 9\nA 1 2 c 10 12 1700000000 3600 Work,%2Dx 1.M1P1.h,S=10,W=12:2,S\nA 4 8 n 1 2 1700000001 0 - 2.M2P2.h\nX 2 9\nT 1 2\n"))
	f.Add([]byte("mailsuite-uidlist 1 1 1 1\n"))
	f.Add([]byte("garbage\nA 1 1 c 1 1 1 0 - x\n"))
	f.Add([]byte("mailsuite-uidlist 1 7 3 3\nA 1 1 c 1 1 1 0 - x\nA 2 1 c 1 1 1 0 - x\nA 3 1 c"))
	f.Add([]byte("mailsuite-uidlist 1 7 4294967290 3\nA 4294967294 1 c 1 1 1 0 - x\nbad\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parseIndex(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if d.uidNext == 0 {
			t.Fatal("uidnext 0")
		}
		if !d.headerOK {
			d.renumber() // as the loader does, with a new UIDVALIDITY
			d.uidValidity = 1
		}
		for uid, m := range d.msgs {
			if uid == 0 || uid >= d.uidNext || m.uid != uid || m.modseq > d.highestModSeq {
				t.Fatalf("bad record %d: %+v (uidnext %d, hms %d)", uid, m, d.uidNext, d.highestModSeq)
			}
		}
		out := snapshotBytes(d)
		d2, err := parseIndex(bytes.NewReader(out))
		if err != nil || !d2.headerOK || d2.damaged {
			t.Fatalf("snapshot does not parse cleanly: %v %+v\n%s", err, d2, out)
		}
		if d2.uidNext != d.uidNext || d2.highestModSeq != d.highestModSeq || len(d2.msgs) != len(d.msgs) {
			t.Fatalf("round trip: %+v vs %+v", d2, d)
		}
		for uid, m := range d.msgs {
			m2 := d2.msgs[uid]
			if m2 == nil || m2.name != m.name || m2.size != m.size || m2.disk != m.disk || m2.modseq != m.modseq ||
				!m2.date.Equal(m.date) || !equalStrings(m2.list, m.list) || m2.inCur != m.inCur {
				t.Fatalf("uid %d: %+v vs %+v", uid, m2, m)
			}
		}
		if !bytes.Equal(snapshotBytes(d2), out) {
			t.Fatal("snapshot not stable")
		}
	})
}

// FuzzFileName: names parse without panic; the flags we set are the flags
// we read back, and unknown info letters survive a flag change.
func FuzzFileName(f *testing.F) {
	f.Add("1700000000.M1P2Q3.host,S=10,W=12:2,FRS", uint8(sysSeen))
	f.Add("1.2.host:2,abcT", uint8(0))
	f.Add("x:1,experimental", uint8(63))
	f.Add(",S=,W=-1,S=5", uint8(1))
	f.Fuzz(func(t *testing.T, name string, sys uint8) {
		sys &= sysDraft | sysFlagged | sysPassed | sysAnswered | sysSeen | sysDeleted
		key, info := splitName(name)
		if strings.Contains(key, ":") {
			t.Fatalf("key %q has ':'", key)
		}
		s, w := nameSizes(key)
		if s < -1 || w < -1 {
			t.Fatal(s, w)
		}
		_, extra := parseInfo(info)
		newInfo := buildInfo(sys, extra)
		sys2, extra2 := parseInfo(newInfo)
		if sys2 != sys || extra2 != sortedBytes(extra) {
			t.Fatalf("info %q: %d %q, want %d %q", newInfo, sys2, extra2, sys, extra)
		}
		m := &message{}
		m.setName(key + ":" + newInfo)
		if m.key != key || m.flags.sys != sys {
			t.Fatalf("message %+v", m)
		}
	})
}

func sortedBytes(s string) string {
	b := []byte(s)
	for i := range b {
		for j := i + 1; j < len(b); j++ {
			if b[j] < b[i] {
				b[i], b[j] = b[j], b[i]
			}
		}
	}
	return string(b)
}

// FuzzFolderName: every accepted name maps to a directory that maps back
// to the same name, stays one hidden path component, and cannot escape.
func FuzzFolderName(f *testing.F) {
	for _, s := range []string{"INBOX", "Archive/2024", "Entwürfe", "A&B", "日本語/😀", "a.b", "../x", "a//b", "inbox/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := parseFolderName(name)
		if err != nil {
			return
		}
		if n.isInbox() {
			if !strings.EqualFold(name, inboxName) {
				t.Fatalf("%q taken for INBOX", name)
			}
			return
		}
		if !utf8.ValidString(n.canon) || strings.ContainsAny(n.dir, "/\x00") || n.dir[0] != '.' || strings.Contains(n.dir, "..") || len(n.dir) > maxDirName {
			t.Fatalf("%q -> unsafe dir %q", name, n.dir)
		}
		back, ok := folderFromDir(n.dir)
		if !ok || back.canon != n.canon {
			t.Fatalf("%q -> %q -> %q %v", name, n.dir, back.canon, ok)
		}
		dec, err := decodeMUTF7(encodeMUTF7(n.parts[0]))
		if err != nil || dec != n.parts[0] {
			t.Fatalf("mutf7 %q: %q %v", n.parts[0], dec, err)
		}
	})
}

// FuzzMUTF7Decode: decoding any string never panics, and whatever decodes
// encodes back to the same bytes (one spelling per name).
func FuzzMUTF7Decode(f *testing.F) {
	for _, s := range []string{"&-", "&AOk-", "&ZeVnLIqe-", "&2D3eAA-", "&", "&AOk-&AOk-", "a&b-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec, err := decodeMUTF7(s)
		if err != nil {
			return
		}
		if encodeMUTF7(dec) != s {
			t.Fatalf("%q -> %q -> %q", s, dec, encodeMUTF7(dec))
		}
	})
}

// FuzzCRLF: writing converts CRLF to LF, reading gives CRLF, and the sizes
// computed while writing, by measuring, and by reading all agree.
func FuzzCRLF(f *testing.F) {
	for _, s := range []string{"a\r\nb\n", "\r\r\n", "\r", "\n\n.\r\n", "x\ry\r\n\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var disk bytes.Buffer
		n, crlf, err := copyToLF(&disk, bytes.NewReader(in), 0)
		if err != nil || n != int64(disk.Len()) {
			t.Fatal(err, n)
		}
		if bytes.Contains(disk.Bytes(), []byte("\r\n")) && !bytes.Contains(in, []byte("\r\r\n")) {
			t.Fatalf("CRLF left on disk: %q", disk.Bytes())
		}
		d2, c2, _ := crlfSize(bytes.NewReader(disk.Bytes()))
		var out bytes.Buffer
		out.ReadFrom(newCRLFReader(bytes.NewReader(disk.Bytes()), int64(disk.Len())))
		if d2 != n || c2 != crlf || int64(out.Len()) != crlf {
			t.Fatalf("sizes: write %d/%d, measure %d/%d, read %d", n, crlf, d2, c2, out.Len())
		}
		// Input whose every LF is part of a CRLF and has no other CR
		// round-trips exactly.
		if !bytes.Contains(in, []byte("\r")) || bytes.Count(in, []byte("\r")) == bytes.Count(in, []byte("\r\n")) {
			if bytes.Count(in, []byte("\n")) == bytes.Count(in, []byte("\r\n")) && !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("round trip %q -> %q", in, out.Bytes())
			}
		}
	})
}
