package mailbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// handle is one session's Folder. It shares its folder's state with every
// other handle on it and keeps only its own change cursor.
type handle struct {
	store    *Maildir
	u        *userState
	f        *folderState
	readOnly bool
	notify   chan struct{}

	// Guarded by u.mu.
	wake   func() // SetNotifyFunc
	cursor uint64
	pend   *pending
	closed bool
}

var _ Folder = (*handle)(nil)

// checkLocked reports a closed handle or store, or a vanished folder.
func (h *handle) checkLocked() error {
	if h.closed || h.store.closed.Load() {
		return ErrClosed
	}
	if h.f.gone {
		return fmt.Errorf("%w: %s", ErrNoMailbox, h.f.name.canon)
	}
	return nil
}

func (h *handle) Name() string {
	h.u.mu.RLock()
	defer h.u.mu.RUnlock()
	return h.f.name.canon
}

func (h *handle) UIDValidity() uint32 { return h.f.uidValidity }
func (h *handle) ReadOnly() bool      { return h.readOnly }

// Notify's channel has room for one signal; senders never block.
func (h *handle) Notify() <-chan struct{} { return h.notify }

func (h *handle) Messages() ([]MessageInfo, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if err := h.checkLocked(); err != nil {
		return nil, err
	}
	if err := h.f.syncLocked(); err != nil {
		return nil, err
	}
	out := make([]MessageInfo, len(h.f.msgs))
	for i, m := range h.f.msgs {
		out[i] = m.info()
	}
	h.cursor, h.pend = h.f.logSeq, nil
	return out, nil
}

// SharedFolder is implemented by the Maildir store's Folder handles.
type SharedFolder interface {
	// MessagesShared is Messages, except that the slice it returns may be
	// shared with other handles of the folder: the caller must not
	// modify it or its elements (copy first). While the folder does not
	// change, every call returns the same slice, without copying: SELECT
	// of a big folder costs no more than its sync.
	MessagesShared() ([]MessageInfo, error)
}

var _ SharedFolder = (*handle)(nil)

// MessagesShared is Messages without a copy (SharedFolder).
func (h *handle) MessagesShared() ([]MessageInfo, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if err := h.checkLocked(); err != nil {
		return nil, err
	}
	if err := h.f.syncLocked(); err != nil {
		return nil, err
	}
	f := h.f
	if f.snap == nil {
		f.snap = make([]MessageInfo, len(f.msgs))
		for i, m := range f.msgs {
			f.snap[i] = m.info()
		}
	}
	h.cursor, h.pend = f.logSeq, nil
	return f.snap[:len(f.snap):len(f.snap)], nil
}

// Changes reports what happened since the last Messages or Changes. On a
// folder deleted or renamed away by another session it first reports every
// message expunged, then ErrNoMailbox.
func (h *handle) Changes() (Changes, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if h.closed || h.store.closed.Load() {
		return Changes{}, ErrClosed
	}
	if !h.f.gone {
		if err := h.f.syncLocked(); err != nil && !h.f.gone {
			return Changes{}, err
		}
	}
	c := h.f.changesLocked(h)
	if c.Empty() && h.f.gone {
		return c, fmt.Errorf("%w: %s", ErrNoMailbox, h.f.name.canon)
	}
	return c, nil
}

// Open returns the message with CRLF line ends. The file is opened under
// the read lock and streamed after it is released: a later rename or
// unlink does not disturb the open file.
func (h *handle) Open(uid uint32) (io.ReadCloser, int64, error) {
	fh, m, err := h.openFile(uid)
	if err != nil {
		return nil, 0, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(fh.Fd()), &st); err != nil {
		fh.Close()
		return nil, 0, ioErr("stat message", &os.PathError{Op: "fstat", Path: fh.Name(), Err: err})
	}
	size := m.size
	if st.Size != m.disk {
		// Someone changed the file under us: measure what is there, so
		// the size we report is the size we send.
		_, size, err = crlfSize(fh)
		if err == nil {
			_, err = fh.Seek(0, io.SeekStart)
		}
		if err != nil {
			fh.Close()
			return nil, 0, ioErr("read message", err)
		}
		h.store.log.Warn("message file changed size", "user", h.u.name, "folder", h.f.name.canon, "uid", uid)
	}
	return newMessageReader(fh, size), size, nil
}

// messageReader streams an open message file with CRLF line ends, size
// octets of it, in one allocation with a pooled buffer (FETCH of 10,000
// bodies made a buffer of each message's size, most of the server's
// garbage in BenchmarkFetchBodies4KiB).
type messageReader struct {
	lim io.LimitedReader // reads cr
	cr  crlfReader       // reads f
	f   *os.File
	buf *[]byte // cr's buffer, from crlfBufs
}

var crlfBufs = sync.Pool{New: func() any { b := make([]byte, crlfMaxBuffer); return &b }}

func newMessageReader(fh *os.File, size int64) *messageReader {
	r := &messageReader{f: fh, buf: crlfBufs.Get().(*[]byte)}
	r.cr = crlfReader{r: fh, buf: *r.buf}
	r.lim = io.LimitedReader{R: &r.cr, N: size}
	return r
}

func (r *messageReader) Read(p []byte) (int, error) { return r.lim.Read(p) }

// Close closes the file and gives the buffer back; a read after it finds
// the end, and a second Close fails.
func (r *messageReader) Close() error {
	if r.buf == nil {
		return os.ErrClosed
	}
	crlfBufs.Put(r.buf)
	r.buf, r.cr.buf, r.lim.N = nil, nil, 0
	return r.f.Close()
}

// openFile opens a message's file. If it is not where the index says,
// another program may have renamed it: rescan once and retry.
func (h *handle) openFile(uid uint32) (*os.File, message, error) {
	h.u.mu.RLock()
	if err := h.checkLocked(); err != nil {
		h.u.mu.RUnlock()
		return nil, message{}, err
	}
	m := h.f.find(uid)
	if m == nil {
		h.u.mu.RUnlock()
		return nil, message{}, fmt.Errorf("%w: uid %d", ErrNoMessage, uid)
	}
	fh, err := openMessage(h.f.path(m))
	mc := *m
	h.u.mu.RUnlock()
	if err == nil {
		return fh, mc, nil
	}
	if !isNotExist(err) {
		return nil, message{}, ioErr("open message", err)
	}
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if err := h.checkLocked(); err != nil {
		return nil, message{}, err
	}
	if err := h.f.syncLocked(); err != nil {
		return nil, message{}, err
	}
	if m = h.f.find(uid); m == nil {
		return nil, message{}, fmt.Errorf("%w: uid %d", ErrNoMessage, uid)
	}
	fh, err = openMessage(h.f.path(m))
	if isNotExist(err) {
		return nil, message{}, fmt.Errorf("%w: uid %d", ErrNoMessage, uid)
	}
	if err != nil {
		return nil, message{}, ioErr("open message", err)
	}
	return fh, *m, nil
}

// SetFlags changes flags. System flags are renamed into the file name
// (moving a file from new/ to cur/ if need be); keywords change only the
// index. Each message whose flags change gets a new modseq. It returns the
// state of every given message that exists, changed or not (what IMAP
// STORE reports, RFC 9051 §6.4.6).
func (h *handle) SetFlags(uids []uint32, op StoreOp, flags []string) ([]MessageInfo, error) {
	if h.readOnly {
		return nil, ErrReadOnly
	}
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if err := h.checkLocked(); err != nil {
		return nil, err
	}
	f := h.f
	if err := f.syncLocked(); err != nil {
		return nil, err
	}
	given := parseFlags(flags)
	var (
		buf     []byte
		changed []*message
		out     []MessageInfo
		dirs    = map[string]bool{}
		hardErr error
	)
	seen := make(map[uint32]bool, len(uids))
	for _, uid := range uids {
		m := f.find(uid)
		if m == nil || seen[uid] {
			continue
		}
		seen[uid] = true
		nf := m.flags.apply(op, given)
		if nf.equal(m.flags) {
			out = append(out, m.info())
			continue
		}
		c := m.clone()
		c.flags = nf
		if nf.sys != m.flags.sys {
			c.inCur = true
			c.name = c.key + ":" + buildInfo(nf.sys, c.extra)
			if err := h.store.fs.Rename(f.path(m), f.path(c)); err != nil {
				if isNotExist(err) {
					continue // renamed or removed by another program: next scan
				}
				hardErr = ioErr("set flags", err)
				break
			}
			dirs[filepath.Join(f.dir, m.sub())] = true
			dirs[filepath.Join(f.dir, "cur")] = true
		}
		c.modseq = f.nextModSeqLocked()
		c.cache()
		buf = appendRecord(buf, c)
		changed = append(changed, c)
	}
	for d := range dirs {
		if err := h.store.fs.syncDir(d); err != nil && hardErr == nil {
			hardErr = err
		}
	}
	if err := f.journalLocked(buf); err != nil {
		// The renames stand; the next scan records them as flag changes.
		return nil, err
	}
	if len(dirs) > 0 {
		f.touchedLocked()
	}
	for _, c := range changed {
		f.replaceLocked(f.byKey[c.key], c)
		f.recordLocked(changeFlags, c.uid, h)
		out = append(out, c.info())
	}
	if len(changed) > 0 {
		f.notifyAllLocked(h)
	}
	f.maybeCompactLocked()
	if hardErr != nil {
		return nil, hardErr
	}
	sortInfos(out)
	return out, nil
}

// Expunge removes the given messages that carry \Deleted (all of them when
// uids is nil), RFC 9051 §6.4.3 and §6.4.9 (UID EXPUNGE).
func (h *handle) Expunge(uids []uint32) ([]uint32, error) {
	return h.remove(uids, true)
}

// Remove removes the given messages whatever their flags (POP3 QUIT,
// RFC 1939 §6).
func (h *handle) Remove(uids []uint32) error {
	_, err := h.remove(uids, false)
	return err
}

func (h *handle) remove(uids []uint32, deletedOnly bool) ([]uint32, error) {
	if h.readOnly {
		return nil, ErrReadOnly
	}
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if err := h.checkLocked(); err != nil {
		return nil, err
	}
	f := h.f
	if err := f.syncLocked(); err != nil {
		return nil, err
	}
	var sel []*message
	if uids == nil {
		for _, m := range f.msgs {
			if m.flags.sys&sysDeleted != 0 {
				sel = append(sel, m)
			}
		}
	} else {
		seen := map[uint32]bool{}
		for _, uid := range uids {
			m := f.find(uid)
			if m == nil || seen[uid] || (deletedOnly && m.flags.sys&sysDeleted == 0) {
				continue
			}
			seen[uid] = true
			sel = append(sel, m)
		}
	}
	sortMsgs(sel)
	if err := f.removeMsgsLocked(sel, h); err != nil {
		return nil, err
	}
	out := make([]uint32, len(sel))
	for i, m := range sel {
		out[i] = m.uid
	}
	return out, nil
}

// Copy copies messages to another folder of the account (RFC 9051 §6.4.7,
// RFC 4315 COPYUID): hard links with new keys, the same flags, keywords
// and internal date, new UIDs there. Messages already gone are left out.
func (h *handle) Copy(uids []uint32, dest string) (uint32, []uint32, []uint32, error) {
	return h.copyOrMove(uids, dest, false)
}

// Move is Copy then Expunge of the originals, both under the user's lock,
// so no observer sees the messages in neither or both folders (RFC 6851).
func (h *handle) Move(uids []uint32, dest string) (uint32, []uint32, []uint32, error) {
	if h.readOnly {
		return 0, nil, nil, ErrReadOnly
	}
	return h.copyOrMove(uids, dest, true)
}

func (h *handle) copyOrMove(uids []uint32, dest string, move bool) (uint32, []uint32, []uint32, error) {
	dn, err := parseFolderName(dest)
	if err != nil {
		return 0, nil, nil, err
	}
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if err := h.checkLocked(); err != nil {
		return 0, nil, nil, err
	}
	src := h.f
	if err := src.syncLocked(); err != nil {
		return 0, nil, nil, err
	}
	dst, err := h.u.folderLocked(dn)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := dst.syncLocked(); err != nil {
		return 0, nil, nil, err
	}
	var sel []*message
	seen := map[uint32]bool{}
	for _, uid := range uids {
		if m := src.find(uid); m != nil && !seen[uid] {
			seen[uid] = true
			sel = append(sel, m)
		}
	}
	sortMsgs(sel)
	copied, err := copyMsgsLocked(src, dst, sel)
	if err != nil {
		return 0, nil, nil, err
	}
	var srcUIDs, dstUIDs []uint32
	var moved []*message
	for i, m := range sel {
		if copied[i] != 0 {
			srcUIDs = append(srcUIDs, m.uid)
			dstUIDs = append(dstUIDs, copied[i])
			moved = append(moved, m)
		}
	}
	if move && len(moved) > 0 {
		if err := src.removeMsgsLocked(moved, h); err != nil {
			// Take the copies back so the move did not happen.
			var back []*message
			for _, uid := range dstUIDs {
				if m := dst.find(uid); m != nil {
					back = append(back, m)
				}
			}
			dst.removeMsgsLocked(back, nil)
			return 0, nil, nil, err
		}
	}
	return dst.uidValidity, srcUIDs, dstUIDs, nil
}

// copyMsgsLocked links each message's file into dst under a new key and
// commits them there. It returns the new UID of each message, 0 for one
// whose file had vanished. On error nothing is left in dst.
func copyMsgsLocked(src, dst *folderState, ms []*message) ([]uint32, error) {
	store := src.u.store
	uids := make([]uint32, len(ms))
	var (
		made    []*message
		madeIdx []int
		dirs    = map[string]bool{}
	)
	undo := func() {
		for _, c := range made {
			os.Remove(dst.path(c))
		}
	}
	for i, m := range ms {
		c := &message{
			inCur: m.inCur, disk: m.disk, size: m.size, date: m.date,
			flags: flagSet{sys: m.flags.sys, keywords: m.flags.keywords},
		}
		c.setName(messageName(store.newUnique(), m.disk, m.size, m.inCur, m.flags.sys, m.extra))
		c.flags.keywords = m.flags.keywords
		err := store.place(src.path(m), dst.path(c), filepath.Join(dst.dir, "tmp"), false)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			undo()
			return nil, err
		}
		dirs[filepath.Join(dst.dir, c.sub())] = true
		made = append(made, c)
		madeIdx = append(madeIdx, i)
	}
	for d := range dirs {
		if err := store.fs.syncDir(d); err != nil {
			undo()
			return nil, err
		}
	}
	if len(made) == 0 {
		return uids, nil
	}
	got, err := dst.commitNewLocked(made)
	if err != nil {
		undo()
		return nil, err
	}
	from := make([]*message, len(madeIdx))
	for j, i := range madeIdx {
		uids[i] = got[j]
		from[j] = ms[i]
	}
	metaCopyLocked(src, dst, from, made)
	return uids, nil
}

// Close releases the handle.
func (h *handle) Close() error {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if !h.closed {
		h.closed = true
		delete(h.f.handles, h)
		if len(h.f.handles) == 0 {
			h.f.metaCloseLocked()
		}
	}
	return nil
}
