package mailbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// MetaFolder is implemented by the Maildir store's Folder handles: it keeps,
// beside the UID index, bytes that a front end computed from a message's
// content, so that they are computed once per message and not again after
// a restart (imapd keeps ENVELOPE, BODYSTRUCTURE and the MIME layout
// there; STYLE.md §11). The store does not look inside the bytes. They
// belong to a UID under the folder's UIDVALIDITY and to the message's size;
// a copy (COPY, MOVE, RENAME INBOX) takes them along.
//
// It is a cache: a record lost in a crash or dropped for damage is simply
// missing, and the front end computes it again.
type MetaFolder interface {
	// Meta returns the bytes last stored for uid, if any.
	Meta(uid uint32) ([]byte, bool)
	// SetMeta stores bytes for uid (at most MaxMetaSize). It is not
	// fsynced. ErrNoMessage if uid is not in the folder.
	SetMeta(uid uint32, data []byte) error
}

// MaxMetaSize bounds one record of a MetaFolder.
const MaxMetaSize = 1 << 20

var _ MetaFolder = (*handle)(nil)

// The cache file, "mailsuite-cache" beside "mailsuite-uidlist":
//
//	mailsuite-cache 1 <uidvalidity>\n                  header
//	'R' uid:u32 size:u64 len:u32 crc:u32 data[len]    one record (big endian)
//
// A record replaces any earlier one of its UID. crc is CRC-32C of the
// uid, size and len fields and the data. The file is only appended to;
// it is rewritten with the live records (atomically) once dead records
// outnumber them. Reading stops at the first record that does not parse
// or whose CRC is wrong (a crash mid-append): what follows is garbage,
// cut off before the next append. A header of another UIDVALIDITY (the
// index was rebuilt and renumbered) empties the file.
const (
	metaFileName  = "mailsuite-cache"
	metaMagic     = "mailsuite-cache"
	metaVersion   = "1"
	metaRecHeader = 1 + 4 + 8 + 4 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// metaRef is where a record's data lies in the cache file.
type metaRef struct {
	off  int64 // of the data
	n    uint32
	size int64 // message size the record was made for
}

// metaStore is a folder's cache file, opened on first use and closed when
// the folder's last handle closes. mu guards it; it is taken with the
// user's lock held (read or write), never the other way round.
type metaStore struct {
	mu      sync.Mutex
	file    *os.File
	refs    map[uint32]metaRef
	end     int64 // length of the valid part of the file
	records int   // records in the valid part, dead or alive
	failed  bool  // the file could not be used: give up until reopened
	loads   int   // times the whole file was read (tests)
}

func (f *folderState) metaPath() string { return filepath.Join(f.dir, metaFileName) }

// openLocked opens (or creates) the cache file and reads its records'
// places. Caller holds ms.mu and the user's lock.
func (ms *metaStore) openLocked(f *folderState) error {
	if ms.file != nil {
		return nil
	}
	if ms.failed {
		return errMetaUnavailable
	}
	fh, err := os.OpenFile(f.metaPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		ms.failed = true
		return ioErr("open cache", err)
	}
	if ms.refs != nil {
		// Closed when the folder's last handle closed; the places of its
		// records are still known, and nobody else writes the file (the
		// store holds the mail root's lock), so it is not read again
		// unless it shrank.
		if st, err := fh.Stat(); err == nil && st.Size() >= ms.end {
			ms.file = fh
			return nil
		}
		ms.refs = nil
	}
	ms.loads++
	refs, end, records, ok := readMetaFile(fh, f.uidValidity)
	if !ok {
		// Another UIDVALIDITY, or no header: start afresh.
		refs, records = map[uint32]metaRef{}, 0
		hdr := metaMagic + " " + metaVersion + " " + strconv.FormatUint(uint64(f.uidValidity), 10) + "\n"
		err := fh.Truncate(0)
		if err == nil {
			_, err = fh.WriteAt([]byte(hdr), 0)
		}
		if err != nil {
			fh.Close()
			ms.failed = true
			return ioErr("reset cache", err)
		}
		end = int64(len(hdr))
	} else if st, err := fh.Stat(); err == nil && st.Size() > end {
		// A torn or damaged tail: cut it off so appends follow sound records.
		fh.Truncate(end)
	}
	for uid := range refs {
		if f.find(uid) == nil {
			delete(refs, uid) // expunged while the file was closed
		}
	}
	ms.file, ms.refs, ms.end, ms.records = fh, refs, end, records
	return nil
}

var errMetaUnavailable = errors.New("mailbox: cache file unavailable")

// readMetaFile reads the places of the records of a cache file. ok is
// false when the header is missing or names another UIDVALIDITY.
func readMetaFile(r io.Reader, uidValidity uint32) (refs map[uint32]metaRef, end int64, records int, ok bool) {
	br := bufio.NewReaderSize(r, 256<<10)
	hdr, err := br.ReadString('\n')
	if err != nil {
		return nil, 0, 0, false
	}
	f := strings.Fields(hdr)
	if len(f) != 3 || f[0] != metaMagic || f[1] != metaVersion || f[2] != strconv.FormatUint(uint64(uidValidity), 10) {
		return nil, 0, 0, false
	}
	refs = make(map[uint32]metaRef)
	end = int64(len(hdr))
	var rh [metaRecHeader]byte
	var data []byte
	for {
		if _, err := io.ReadFull(br, rh[:]); err != nil {
			break
		}
		uid, size, n, sum, good := parseMetaRecHeader(rh[:])
		if !good {
			break
		}
		if cap(data) < int(n) {
			data = make([]byte, n)
		}
		data = data[:n]
		if _, err := io.ReadFull(br, data); err != nil {
			break
		}
		if metaSum(rh[1:17], data) != sum {
			break
		}
		refs[uid] = metaRef{off: end + metaRecHeader, n: n, size: size}
		end += metaRecHeader + int64(n)
		records++
	}
	return refs, end, records, true
}

func parseMetaRecHeader(b []byte) (uid uint32, size int64, n, sum uint32, ok bool) {
	uid = binary.BigEndian.Uint32(b[1:5])
	s := binary.BigEndian.Uint64(b[5:13])
	n = binary.BigEndian.Uint32(b[13:17])
	sum = binary.BigEndian.Uint32(b[17:21])
	ok = b[0] == 'R' && uid != 0 && s < 1<<62 && n <= MaxMetaSize
	return uid, int64(s), n, sum, ok
}

// metaSum is the CRC of a record: its uid, size and len fields, then data.
func metaSum(fields, data []byte) uint32 {
	return crc32.Update(crc32.Checksum(fields, castagnoli), castagnoli, data)
}

func appendMetaRecord(buf []byte, uid uint32, size int64, data []byte) []byte {
	start := len(buf)
	buf = append(buf, 'R')
	buf = binary.BigEndian.AppendUint32(buf, uid)
	buf = binary.BigEndian.AppendUint64(buf, uint64(size))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(data)))
	buf = binary.BigEndian.AppendUint32(buf, metaSum(buf[start+1:start+17], data))
	return append(buf, data...)
}

// getLocked returns the data stored for m, if it is there and sound.
// Caller holds the user's lock (read or write).
func (f *folderState) metaGetLocked(m *message) ([]byte, bool) {
	ms := &f.meta
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.openLocked(f) != nil {
		return nil, false
	}
	ref, ok := ms.refs[m.uid]
	if !ok || ref.size != m.size {
		return nil, false
	}
	buf := make([]byte, metaRecHeader+int(ref.n))
	if _, err := ms.file.ReadAt(buf, ref.off-metaRecHeader); err != nil {
		return nil, false
	}
	uid, size, n, sum, good := parseMetaRecHeader(buf)
	data := buf[metaRecHeader:]
	if !good || uid != m.uid || size != ref.size || n != ref.n || metaSum(buf[1:17], data) != sum {
		// Changed under us (it should not be): forget it.
		delete(ms.refs, m.uid)
		return nil, false
	}
	return data, true
}

// metaPutLocked appends a record for m. Caller holds the user's lock.
func (f *folderState) metaPutLocked(m *message, data []byte) error {
	if len(data) > MaxMetaSize {
		return fmt.Errorf("%w: cache record of %d octets", ErrTooBig, len(data))
	}
	ms := &f.meta
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if err := ms.openLocked(f); err != nil {
		return err
	}
	rec := appendMetaRecord(nil, m.uid, m.size, data)
	if _, err := ms.file.WriteAt(rec, ms.end); err != nil {
		// A torn record is cut off by the next append or ignored at load.
		return ioErr("write cache", err)
	}
	ms.refs[m.uid] = metaRef{off: ms.end + metaRecHeader, n: uint32(len(data)), size: m.size}
	ms.end += int64(len(rec))
	ms.records++
	f.metaMaybeCompactLocked()
	return nil
}

// metaForgetLocked drops the records of expunged messages from memory;
// their bytes stay in the file until it is compacted.
func (f *folderState) metaForgetLocked(uids []uint32) {
	ms := &f.meta
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.refs == nil {
		return // read afresh at the next open, which drops gone UIDs
	}
	for _, uid := range uids {
		delete(ms.refs, uid)
	}
}

// metaMaybeCompactLocked rewrites the file with its live records once the
// dead ones outnumber them (and CompactMin). Caller holds ms.mu.
func (f *folderState) metaMaybeCompactLocked() {
	ms := &f.meta
	dead := ms.records - len(ms.refs)
	if dead < f.u.store.opts.CompactMin || dead < len(ms.refs) {
		return
	}
	if err := f.metaCompactLocked(); err != nil {
		f.u.store.log.Warn("cache compaction failed", "user", f.u.name, "folder", f.name.canon, "err", err)
	}
}

func (f *folderState) metaCompactLocked() error {
	ms := &f.meta
	uids := make([]uint32, 0, len(ms.refs))
	for uid := range ms.refs {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	hdr := metaMagic + " " + metaVersion + " " + strconv.FormatUint(uint64(f.uidValidity), 10) + "\n"
	refs := make(map[uint32]metaRef, len(uids))
	err := f.u.store.fs.writeFileAtomic(f.metaPath(), filepath.Join(f.dir, "tmp"), "cache-"+f.u.store.newUnique(), func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 256<<10)
		off := int64(len(hdr))
		bw.WriteString(hdr)
		var buf []byte
		for _, uid := range uids {
			ref := ms.refs[uid]
			data := make([]byte, ref.n)
			if _, err := ms.file.ReadAt(data, ref.off); err != nil {
				continue
			}
			buf = appendMetaRecord(buf[:0], uid, ref.size, data)
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			refs[uid] = metaRef{off: off + metaRecHeader, n: ref.n, size: ref.size}
			off += int64(len(buf))
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(f.metaPath(), os.O_RDWR, 0)
	if err != nil {
		ms.closeLocked()
		return ioErr("reopen cache", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		ms.closeLocked()
		return ioErr("reopen cache", err)
	}
	ms.file.Close()
	ms.file, ms.refs, ms.end, ms.records = fh, refs, st.Size(), len(refs)
	return nil
}

// metaCloseLocked closes the file when the folder's last handle closes;
// the places of its records are kept for the next open. Caller holds the
// user's write lock.
func (f *folderState) metaCloseLocked() {
	f.meta.mu.Lock()
	if f.meta.file != nil {
		f.meta.file.Close()
		f.meta.file = nil
	}
	f.meta.failed = false
	f.meta.mu.Unlock()
}

// metaForgetAllLocked closes the file and forgets it (folder gone).
func (f *folderState) metaForgetAllLocked() {
	f.meta.mu.Lock()
	f.meta.closeLocked()
	f.meta.mu.Unlock()
}

func (ms *metaStore) closeLocked() {
	if ms.file != nil {
		ms.file.Close()
	}
	ms.file, ms.refs, ms.end, ms.records, ms.failed = nil, nil, 0, 0, false
}

// Meta returns the bytes stored for uid (MetaFolder).
func (h *handle) Meta(uid uint32) ([]byte, bool) {
	h.u.mu.RLock()
	defer h.u.mu.RUnlock()
	if h.checkLocked() != nil {
		return nil, false
	}
	m := h.f.find(uid)
	if m == nil {
		return nil, false
	}
	return h.f.metaGetLocked(m)
}

// SetMeta stores bytes for uid (MetaFolder).
func (h *handle) SetMeta(uid uint32, data []byte) error {
	h.u.mu.RLock()
	defer h.u.mu.RUnlock()
	if err := h.checkLocked(); err != nil {
		return err
	}
	m := h.f.find(uid)
	if m == nil {
		return fmt.Errorf("%w: uid %d", ErrNoMessage, uid)
	}
	return h.f.metaPutLocked(m, data)
}

// metaCopyLocked gives the copies in dst the records of their originals
// in src (src[i] was copied to dst[i]). Caller holds the user's write
// lock. A destination whose file is not open (no session has it
// selected: the Trash a MOVE goes to) is only appended to, not read.
func metaCopyLocked(src, dst *folderState, from, to []*message) {
	var buf []byte
	for i, m := range from {
		if data, ok := src.metaGetLocked(m); ok {
			buf = appendMetaRecord(buf, to[i].uid, to[i].size, data)
		}
	}
	if len(src.handles) == 0 {
		src.metaCloseLocked()
	}
	if len(buf) > 0 {
		if err := dst.metaAppendLocked(buf); err != nil {
			dst.u.store.log.Warn("cache records not copied", "user", dst.u.name, "folder", dst.name.canon, "err", err)
		}
	}
}

// metaAppendLocked adds whole records to the cache file. When the file
// is open, its places are noted; otherwise the file is appended to
// without being read (a torn tail before them only hides them, and the
// next full open cuts it off). Caller holds the user's write lock.
func (f *folderState) metaAppendLocked(recs []byte) error {
	ms := &f.meta
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.file == nil {
		fh, err := os.OpenFile(f.metaPath(), os.O_RDWR|os.O_APPEND, 0)
		if err == nil && ms.refs != nil {
			// Its places are known: open it the cheap way and note them.
			fh.Close()
			err = os.ErrExist
		}
		if err == nil {
			var hdr [64]byte
			n, _ := fh.ReadAt(hdr[:], 0)
			want := metaMagic + " " + metaVersion + " " + strconv.FormatUint(uint64(f.uidValidity), 10) + "\n"
			if strings.HasPrefix(string(hdr[:n]), want) {
				_, err = fh.Write(recs)
				fh.Close()
				return ioErr("write cache", err)
			}
			fh.Close()
		}
		// No file, or one of another UIDVALIDITY: the full open makes it.
		if err := ms.openLocked(f); err != nil {
			return err
		}
		defer func() {
			if len(f.handles) == 0 && ms.file != nil {
				ms.file.Close()
				ms.file = nil
			}
		}()
	}
	if _, err := ms.file.WriteAt(recs, ms.end); err != nil {
		return ioErr("write cache", err)
	}
	for off := 0; off < len(recs); {
		uid, size, n, _, _ := parseMetaRecHeader(recs[off:])
		ms.refs[uid] = metaRef{off: ms.end + int64(off) + metaRecHeader, n: n, size: size}
		off += metaRecHeader + int(n)
		ms.records++
	}
	ms.end += int64(len(recs))
	return nil
}
