package mailbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// message is what a folder knows of one message. Published messages are
// replaced, not changed, except under the user's write lock; the flags
// slice handed out in MessageInfo is never modified after it is made.
type message struct {
	uid    uint32
	key    string // file name before ":"; fixed for the message's life
	name   string // current file name
	inCur  bool   // in cur/ (else new/)
	disk   int64  // octets on disk
	size   int64  // octets with CRLF line ends
	date   time.Time
	modseq uint64
	flags  flagSet
	extra  string   // info letters we keep but do not interpret
	list   []string // flags.list(), cached
}

// setName sets the file name and the system flags it carries.
func (m *message) setName(name string) {
	m.name = name
	var info string
	m.key, info = splitName(name)
	m.flags.sys, m.extra = parseInfo(info)
}

func (m *message) cache() { m.list = m.flags.list() }

func (m *message) info() MessageInfo {
	return MessageInfo{UID: m.uid, Flags: m.list, Size: m.size, InternalDate: m.date, ModSeq: m.modseq}
}

func (m *message) clone() *message {
	c := *m
	return &c
}

func (m *message) sub() string {
	if m.inCur {
		return "cur"
	}
	return "new"
}

// folderState is the shared in-memory state of one folder: its index, its
// change log and its open handles. Guarded by the user's mutex.
type folderState struct {
	u    *userState
	name folderName
	dir  string

	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64
	msgs          []*message // ascending UID
	byKey         map[string]*message
	unseen        uint32
	deleted       uint32
	size          int64

	journal     int  // index lines since the last snapshot
	needCompact bool // index on disk damaged or torn: rewrite before appending

	// Directory mtimes (ns) as of the last scan or own change, and when
	// the last full scan began.
	newSeen, curSeen   int64
	savedNew, savedCur int64 // the mtimes the index on disk records
	scannedAt          time.Time

	scans int // full directory scans so far (tests)

	// From a tree copied in from Dovecot (dovecot.go): the UIDs its
	// dovecot-uidlist gave the files, until the first scan has used them,
	// and the keywords of the info letters a-z.
	importUIDs map[string]uint32
	letterKWs  []string

	// snap is Messages' answer while nothing changed, shared by the
	// handles that ask with MessagesShared; nil once anything changes.
	snap []MessageInfo

	changeLog
	handles map[*handle]struct{}
	meta    metaStore   // the cache file (metacache.go)
	group   groupCommit // deliveries between rename and commit (groupcommit.go)
	gone    bool        // deleted or renamed away underneath
}

func (f *folderState) indexPath() string { return filepath.Join(f.dir, indexFileName) }
func (f *folderState) path(m *message) string {
	return filepath.Join(f.dir, m.sub(), m.name)
}

// loadFolder reads a folder's index and catches up with its files.
func loadFolder(u *userState, n folderName) (*folderState, error) {
	f := &folderState{u: u, name: n, dir: u.folderDir(n), handles: make(map[*handle]struct{})}
	if err := makeMaildir(f.dir); err != nil {
		return nil, err
	}
	cleanTmp(filepath.Join(f.dir, "tmp"), time.Now())
	d, err := readIndexFile(f.indexPath())
	if err != nil {
		return nil, err
	}
	log := u.store.log.With("user", u.name, "folder", n.canon)
	f.letterKWs = readDovecotKeywords(f.dir)
	switch {
	case d == nil:
		d = &indexData{msgs: map[uint32]*message{}, uidNext: 1, highestModSeq: 1}
		f.needCompact = true
		if dv := readDovecotUIDList(f.dir); dv != nil {
			// Keep Dovecot's UIDVALIDITY and UIDs: clients need not
			// resync (dovecot.go).
			log.Info("index missing: taking UIDs from dovecot-uidlist", "uidvalidity", dv.uidValidity, "uids", len(dv.byKey))
			d.headerOK = true
			d.uidValidity, d.uidNext = dv.uidValidity, dv.uidNext
			f.importUIDs = dv.byKey
			if err := u.noteUIDValidityLocked(dv.uidValidity); err != nil {
				return nil, err
			}
		} else {
			log.Info("index missing: rebuilding from files")
		}
	case !d.headerOK:
		// Without the header we cannot know which UIDs were handed out
		// before, so they cannot be trusted: new UIDVALIDITY.
		log.Warn("index header unreadable: new UIDVALIDITY", "kept_records", len(d.msgs))
		f.needCompact = true
	case d.damaged:
		log.Warn("index damaged: keeping what was readable", "kept_records", len(d.msgs))
		f.needCompact = true
	}
	f.uidValidity = d.uidValidity
	if !d.headerOK {
		if f.uidValidity, err = u.newUIDValidityLocked(); err != nil {
			return nil, err
		}
	}
	if !d.headerOK {
		d.renumber()
	}
	f.uidNext, f.highestModSeq = d.uidNext, max(d.highestModSeq, 1)
	f.msgs = d.sortedMsgs()
	f.byKey = make(map[string]*message, len(f.msgs))
	for _, m := range f.msgs {
		f.byKey[m.key] = m
		f.countLocked(m, 1)
	}
	f.journal = d.journal
	f.newSeen, f.curSeen = d.newMtime, d.curMtime
	f.savedNew, f.savedCur = d.newMtime, d.curMtime
	f.scannedAt = time.Now()
	err = f.syncLocked()
	f.importUIDs = nil
	if err != nil {
		return nil, err
	}
	if f.needCompact {
		if err := f.compactLocked(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// readIndexFile parses an index file; nil, nil if there is none.
func readIndexFile(path string) (*indexData, error) {
	fh, err := os.Open(path)
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, ioErr("open index", err)
	}
	defer fh.Close()
	d, err := parseIndex(fh)
	if err != nil {
		return nil, ioErr("read index", err)
	}
	return d, nil
}

// countLocked adds (sign 1) or removes (sign -1) m from the counters.
func (f *folderState) countLocked(m *message, sign int) {
	s := uint32(sign)
	if m.flags.sys&sysSeen == 0 {
		f.unseen += s
	}
	if m.flags.sys&sysDeleted != 0 {
		f.deleted += s
	}
	f.size += int64(sign) * m.size
}

func (f *folderState) status() Status {
	return Status{
		Messages:      uint32(len(f.msgs)),
		Unseen:        f.unseen,
		Deleted:       f.deleted,
		UIDNext:       f.uidNext,
		UIDValidity:   f.uidValidity,
		Size:          f.size,
		HighestModSeq: f.highestModSeq,
	}
}

// find returns the message with uid, or nil.
func (f *folderState) find(uid uint32) *message {
	i := sort.Search(len(f.msgs), func(i int) bool { return f.msgs[i].uid >= uid })
	if i < len(f.msgs) && f.msgs[i].uid == uid {
		return f.msgs[i]
	}
	return nil
}

// nextModSeqLocked hands out the next modification sequence.
func (f *folderState) nextModSeqLocked() uint64 {
	f.highestModSeq++
	return f.highestModSeq
}

// journalLocked appends lines to the index and fsyncs it. A damaged index
// is first rewritten from memory. On error the index may hold a torn
// line, so the next call rewrites it.
func (f *folderState) journalLocked(buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	if f.needCompact {
		if err := f.compactLocked(); err != nil {
			return err
		}
	}
	err := f.u.store.fs.appendDurable(f.indexPath(), buf)
	if isNotExist(err) {
		// Removed underneath us: write it whole again, then append.
		f.u.store.log.Warn("index file vanished: rewriting it", "user", f.u.name, "folder", f.name.canon)
		if err = f.compactLocked(); err == nil {
			err = f.u.store.fs.appendDurable(f.indexPath(), buf)
		}
	}
	if err != nil {
		f.needCompact = true
		return err
	}
	for _, c := range buf {
		if c == '\n' {
			f.journal++
		}
	}
	return nil
}

// maybeCompactLocked rewrites the index once the journal is longer than the
// folder (and CompactMin). A failure is logged and retried later.
func (f *folderState) maybeCompactLocked() {
	if !f.needCompact && (f.journal < f.u.store.opts.CompactMin || f.journal < len(f.msgs)) {
		return
	}
	if err := f.compactLocked(); err != nil {
		f.u.store.log.Warn("index compaction failed", "user", f.u.name, "folder", f.name.canon, "err", err)
	}
}

// compactLocked writes a fresh snapshot of the index.
func (f *folderState) compactLocked() error {
	newNs, curNs := int64(0), int64(0)
	if f.sureLocked() {
		newNs, curNs = f.newSeen, f.curSeen
	}
	err := f.u.store.fs.writeFileAtomic(f.indexPath(), filepath.Join(f.dir, "tmp"), "index-"+f.u.store.newUnique(), func(w io.Writer) error {
		return writeSnapshot(w, f.uidValidity, f.uidNext, f.highestModSeq, f.msgs, newNs, curNs)
	})
	if err != nil {
		return err
	}
	f.journal = 0
	f.needCompact = false
	f.savedNew, f.savedCur = newNs, curNs
	return nil
}

// dirMtimes returns the mtimes of new/ and cur/.
func (f *folderState) dirMtimes() (newNs, curNs int64, err error) {
	st, err := os.Stat(filepath.Join(f.dir, "new"))
	if err != nil {
		return 0, 0, err
	}
	st2, err := os.Stat(filepath.Join(f.dir, "cur"))
	if err != nil {
		return 0, 0, err
	}
	return st.ModTime().UnixNano(), st2.ModTime().UnixNano(), nil
}

// sureLocked reports whether the recorded mtimes are old enough, compared
// with when the last scan began, that no change can hide behind them.
func (f *folderState) sureLocked() bool {
	if len(f.group.pending) > 0 {
		return false // a file in new/ is not in the index yet
	}
	latest := time.Unix(0, max(f.newSeen, f.curSeen))
	return f.newSeen != 0 && f.curSeen != 0 && !latest.Add(f.u.store.window).After(f.scannedAt)
}

// syncLocked catches up with changes other programs made to the files. It
// only stats new/ and cur/ unless their mtimes moved since we last looked
// (or were too recent to trust), then it rescans them.
func (f *folderState) syncLocked() error {
	if f.gone {
		return fmt.Errorf("%w: %s", ErrNoMailbox, f.name.canon)
	}
	now := time.Now()
	newNs, curNs, err := f.dirMtimes()
	if err != nil {
		if isNotExist(err) && !f.name.isInbox() {
			f.vanishLocked()
			return fmt.Errorf("%w: %s", ErrNoMailbox, f.name.canon)
		}
		return ioErr("stat folder", err)
	}
	if newNs == f.newSeen && curNs == f.curSeen {
		if f.sureLocked() || now.Before(time.Unix(0, max(newNs, curNs)).Add(f.u.store.window)) {
			return nil
		}
	}
	return f.rescanLocked(now, newNs, curNs)
}

// touchedLocked records the directory mtimes after a change of our own.
// The caller synced first under the same lock, so nothing else is hidden
// behind them, except a change made within the same timestamp tick; the
// mtimes are therefore left unsure, to be checked once more later.
func (f *folderState) touchedLocked() {
	if newNs, curNs, err := f.dirMtimes(); err == nil {
		f.newSeen, f.curSeen = newNs, curNs
	}
}

// vanishLocked handles a folder whose directory is gone: every handle
// hears that every message was expunged.
func (f *folderState) vanishLocked() {
	if f.gone {
		return
	}
	for _, m := range f.msgs {
		f.recordLocked(changeExpunged, m.uid, nil)
	}
	f.msgs, f.byKey, f.snap = nil, map[string]*message{}, nil
	f.unseen, f.deleted, f.size = 0, 0, 0
	f.gone = true
	f.metaForgetAllLocked()
	f.notifyAllLocked(nil)
	if f.u.folders[f.name.canon] == f {
		delete(f.u.folders, f.name.canon)
	}
}

// tmpMaxAge: the Maildir spec lets a reader remove files left in tmp/ for
// 36 hours (a writer that crashed mid-delivery).
const tmpMaxAge = 36 * time.Hour

// cleanTmp removes what crashed writers left in a tmp/ directory: files
// older than tmpMaxAge, and folders we were deleting (those are made and
// removed under the user's lock, which the caller holds).
func cleanTmp(dir string, now time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() && (strings.HasPrefix(e.Name(), "deleted-") || strings.HasPrefix(e.Name(), "folder-")) {
			os.RemoveAll(p)
			continue
		}
		// Age by ctime: Append sets a message's mtime to its internal
		// date, which may be years ago, while it is still being written.
		if info, err := e.Info(); err == nil && !e.IsDir() && now.Sub(changeTime(info)) > tmpMaxAge {
			os.Remove(p)
		}
	}
}

// changeTime is a file's ctime (its mtime where that is not available).
func changeTime(info os.FileInfo) time.Time {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return info.ModTime()
}

// listDir reads a directory's names without stat-ing each one.
func listDir(dir string) ([]string, error) {
	d, err := safeio.Open(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}
