package mailbox

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The UID index of a folder, "mailsuite-uidlist" beside its cur/ new/ tmp/.
// It is a text file of lines, written as a snapshot and then extended by an
// append-only journal, so that adding one message appends one line:
//
//	mailsuite-uidlist 1 <uidvalidity> <uidnext> <highestmodseq>      header (first line)
//	A <uid> <modseq> <n|c> <disk size> <crlf size> <unix date> <zone offset s> <keywords> <file name>
//	X <uid> <modseq>                                                   expunge
//	T <new/ mtime ns> <cur/ mtime ns>                                  directories last scanned
//
// An A line adds a message or replaces what an earlier A line said of that
// UID. Keywords are ","-joined with "%XX" escapes ("-" for none). The file
// name is the rest of the line. The journal is replayed in order at load;
// it is compacted into a new snapshot (written atomically) when it grows
// longer than the folder.
//
// A line that does not parse is skipped, a file that does not end in a
// newline (a crash mid-append) loses its last line, and the caller then
// writes a fresh snapshot. What the index lost is found again from the files.

const (
	indexFileName = "mailsuite-uidlist"
	indexMagic    = "mailsuite-uidlist"
	indexVersion  = "1"
)

// indexData is a parsed index.
type indexData struct {
	headerOK      bool
	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64
	msgs          map[uint32]*message
	newMtime      int64 // ns, 0: unknown
	curMtime      int64
	journal       int  // lines after the header
	damaged       bool // some line was unreadable or the file was torn
	lost          int  // how many lines were unreadable
}

// parseIndex reads an index. It never fails on content: damage is reported
// in damaged and headerOK, and whatever could be read is kept.
func parseIndex(r io.Reader) (*indexData, error) {
	d := &indexData{msgs: make(map[uint32]*message)}
	br := bufio.NewReaderSize(r, 64<<10)
	first := true
	var maxUID uint32
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Over-long line: skip to its end.
			d.damaged = true
			d.lost++
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				first = false
				continue
			}
		}
		if err == io.EOF {
			if len(line) > 0 {
				d.damaged = true // torn last line: ignore it
				d.lost++
			}
			break
		}
		if err != nil {
			return nil, err
		}
		s := string(line[:len(line)-1])
		if first {
			first = false
			if d.parseHeader(s) {
				continue
			}
		}
		d.journal++
		if !d.parseLine(s, &maxUID) {
			d.damaged = true
			d.lost++
		}
	}
	next := max(uint64(d.uidNext), uint64(maxUID)+1)
	// Each lost line may have handed out one UID above those we saw
	// (an A line), so skip that many: a UID is never handed out twice
	// under one UIDVALIDITY (RFC 9051 §2.3.1.1).
	next += uint64(d.lost)
	if next >= math.MaxUint32 {
		// No room left under this UIDVALIDITY: the loader renumbers.
		d.headerOK = false
		next = 1
	}
	d.uidNext = uint32(next)
	if d.uidNext == 0 {
		d.uidNext = 1
	}
	// Two UIDs for one file is damage: keep the lower UID.
	byKey := make(map[string]uint32, len(d.msgs))
	for uid, m := range d.msgs {
		if o, ok := byKey[m.key]; ok {
			d.damaged = true
			if o < uid {
				delete(d.msgs, uid)
				continue
			}
			delete(d.msgs, o)
		}
		byKey[m.key] = uid
	}
	return d, nil
}

func (d *indexData) parseHeader(s string) bool {
	f := strings.Split(s, " ")
	if len(f) != 5 || f[0] != indexMagic || f[1] != indexVersion {
		return false
	}
	uv, err1 := strconv.ParseUint(f[2], 10, 32)
	next, err2 := strconv.ParseUint(f[3], 10, 32)
	hms, err3 := strconv.ParseUint(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || uv == 0 || next == 0 {
		return false
	}
	d.headerOK = true
	d.uidValidity, d.uidNext, d.highestModSeq = uint32(uv), uint32(next), hms
	return true
}

// field cuts the next space-separated field off s.
func field(s *string) string {
	f, rest, _ := strings.Cut(*s, " ")
	*s = rest
	return f
}

func (d *indexData) noteModSeq(ms uint64) {
	if ms > d.highestModSeq {
		d.highestModSeq = ms
	}
}

func (d *indexData) parseLine(s string, maxUID *uint32) bool {
	switch field(&s) {
	case "A":
		m, ok := parseRecord(s)
		if !ok {
			return false
		}
		d.msgs[m.uid] = m
		d.noteModSeq(m.modseq)
		if m.uid > *maxUID {
			*maxUID = m.uid
		}
		return true
	case "X":
		uid, err1 := strconv.ParseUint(field(&s), 10, 32)
		ms, err2 := strconv.ParseUint(field(&s), 10, 64)
		if err1 != nil || err2 != nil || uid == 0 || uid == math.MaxUint32 || s != "" {
			return false
		}
		delete(d.msgs, uint32(uid))
		d.noteModSeq(ms)
		if uint32(uid) > *maxUID {
			*maxUID = uint32(uid)
		}
		return true
	case "T":
		n, err1 := strconv.ParseInt(field(&s), 10, 64)
		c, err2 := strconv.ParseInt(field(&s), 10, 64)
		if err1 != nil || err2 != nil || s != "" {
			return false
		}
		d.newMtime, d.curMtime = n, c
		return true
	}
	return false
}

// parseRecord parses the fields of an A line after the "A ".
func parseRecord(s string) (*message, bool) {
	uid, err := strconv.ParseUint(field(&s), 10, 32)
	if err != nil || uid == 0 || uid == math.MaxUint32 {
		return nil, false
	}
	ms, err := strconv.ParseUint(field(&s), 10, 64)
	if err != nil {
		return nil, false
	}
	loc := field(&s)
	if loc != "n" && loc != "c" {
		return nil, false
	}
	disk, err1 := strconv.ParseInt(field(&s), 10, 64)
	size, err2 := strconv.ParseInt(field(&s), 10, 64)
	unix, err3 := strconv.ParseInt(field(&s), 10, 64)
	off, err4 := strconv.ParseInt(field(&s), 10, 32)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || disk < 0 || size < 0 || off < -86400 || off > 86400 {
		return nil, false
	}
	kws, ok := parseKeywords(field(&s))
	if !ok {
		return nil, false
	}
	name := s
	if !validFileName(name) {
		return nil, false
	}
	m := &message{
		uid:    uint32(uid),
		modseq: ms,
		inCur:  loc == "c",
		disk:   disk,
		size:   size,
		date:   time.Unix(unix, 0).In(zone(int(off))),
	}
	m.setName(name)
	m.flags.keywords = kws
	m.cache()
	return m, true
}

// zone gives a fixed zone for an offset (UTC for 0).
func zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone("", off)
}

// validFileName reports whether a directory entry can be a message file
// that the index can name: a single, non-hidden path component with no
// line break or NUL.
func validFileName(name string) bool {
	return name != "" && name[0] != '.' && !strings.ContainsAny(name, "/\n\r\x00")
}

func parseKeywords(f string) ([]string, bool) {
	if f == "-" {
		return nil, true
	}
	if f == "" {
		return nil, false
	}
	var out []string
	for _, e := range strings.Split(f, ",") {
		k, ok := unescapeKeyword(e)
		if !ok || !validKeyword(k) {
			return nil, false
		}
		out = addKeyword(out, k)
	}
	return out, true
}

func escapeKeyword(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == '%' || c == ',' || c == '-' {
			b.WriteByte('%')
			b.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(c)&15, 16))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unescapeKeyword(e string) (string, bool) {
	if !strings.Contains(e, "%") {
		return e, e != ""
	}
	var b []byte
	for i := 0; i < len(e); i++ {
		if e[i] != '%' {
			b = append(b, e[i])
			continue
		}
		if i+2 >= len(e) {
			return "", false
		}
		v, err := strconv.ParseUint(e[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b), len(b) > 0
}

// appendRecord writes m's A line.
func appendRecord(buf []byte, m *message) []byte {
	buf = append(buf, "A "...)
	buf = strconv.AppendUint(buf, uint64(m.uid), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, m.modseq, 10)
	if m.inCur {
		buf = append(buf, " c "...)
	} else {
		buf = append(buf, " n "...)
	}
	buf = strconv.AppendInt(buf, m.disk, 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, m.size, 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, m.date.Unix(), 10)
	_, off := m.date.Zone()
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(off), 10)
	buf = append(buf, ' ')
	if len(m.flags.keywords) == 0 {
		buf = append(buf, '-')
	}
	for i, k := range m.flags.keywords {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, escapeKeyword(k)...)
	}
	buf = append(buf, ' ')
	buf = append(buf, m.name...)
	return append(buf, '\n')
}

func appendExpunge(buf []byte, uid uint32, modseq uint64) []byte {
	buf = append(buf, "X "...)
	buf = strconv.AppendUint(buf, uint64(uid), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, modseq, 10)
	return append(buf, '\n')
}

func appendMtimes(buf []byte, newNs, curNs int64) []byte {
	buf = append(buf, "T "...)
	buf = strconv.AppendInt(buf, newNs, 10)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, curNs, 10)
	return append(buf, '\n')
}

// writeSnapshot writes a whole index: header, one A line per message in
// UID order, and the scan mtimes.
func writeSnapshot(w io.Writer, uidValidity, uidNext uint32, highestModSeq uint64, msgs []*message, newNs, curNs int64) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 512)
	buf = append(buf, indexMagic+" "+indexVersion+" "...)
	buf = strconv.AppendUint(buf, uint64(uidValidity), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, uint64(uidNext), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, highestModSeq, 10)
	buf = append(buf, '\n')
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	for _, m := range msgs {
		buf = appendRecord(buf[:0], m)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	if _, err := bw.Write(appendMtimes(buf[:0], newNs, curNs)); err != nil {
		return err
	}
	return bw.Flush()
}

// renumber gives the messages UIDs 1, 2, ... in their old order, for an
// index whose header is lost: it gets a new UIDVALIDITY, so the old UIDs
// need not be kept, but keywords and dates are.
func (d *indexData) renumber() {
	ms := d.sortedMsgs()
	d.msgs = make(map[uint32]*message, len(ms))
	for i, m := range ms {
		m.uid = uint32(i + 1)
		d.msgs[m.uid] = m
	}
	d.uidNext = uint32(len(ms) + 1)
}

// sortedMsgs returns the index's messages in UID order.
func (d *indexData) sortedMsgs() []*message {
	out := make([]*message, 0, len(d.msgs))
	for _, m := range d.msgs {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uid < out[j].uid })
	return out
}

// snapshotBytes is writeSnapshot into memory (tests, fuzzing).
func snapshotBytes(d *indexData) []byte {
	var b bytes.Buffer
	writeSnapshot(&b, d.uidValidity, d.uidNext, d.highestModSeq, d.sortedMsgs(), d.newMtime, d.curMtime)
	return b.Bytes()
}
