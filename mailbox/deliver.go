package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// staged is a message written and fsynced but in no folder yet (the first
// half of the Maildir delivery discipline): an anonymous file where the
// file system allows it (internal/safeio: nothing to create in tmp/ and
// rename out of it, nothing left behind by a crash), else a named file in
// a tmp/ directory.
type staged struct {
	fh   *os.File // the anonymous file, open; nil for a named one
	path string   // the named file in tmp/
}

// release drops what is left of the staged file once every folder that
// takes it has its own name for it.
func (st *staged) release() {
	if st.fh != nil {
		st.fh.Close()
		return
	}
	os.Remove(st.path) // gone already if the last folder took it
}

// stageFile makes the file a message is written to: anonymous in tmpDir's
// file system when the store can and anon allows, else tmpDir/unique.
func (m *Maildir) stageFile(tmpDir, unique string, anon bool) (*os.File, *staged, error) {
	if m.anon && anon {
		fh, err := safeio.OpenAnonymous(tmpDir, filepath.Join(tmpDir, unique))
		if err == nil {
			return fh, &staged{fh: fh}, nil
		}
		if !safeio.AnonymousUnsupported(err) {
			return nil, nil, err // a missing or unwritable tmp/: the same either way
		}
	}
	tmp := filepath.Join(tmpDir, unique)
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return fh, &staged{path: tmp}, nil
}

// writeTemp streams r into a new staged file, converting CRLF to LF, and
// fsyncs it. The file's mtime is set to date unless it is zero. It returns
// the staged file, its unique part, its size on disk and its CRLF size.
// An error of r is returned unchanged; on any error nothing is left.
//
// A message for one folder may be an anonymous file (anon). One for
// several is not: the folders link it in turn, and once one of them has
// expunged it again, an anonymous file that lost its only name cannot be
// given another (linkat(2) refuses an inode with no links), while a name
// in tmp/ keeps it.
//
// received, when not nil, is called once all of r is in the file, before
// the fsync.
func (m *Maildir) writeTemp(tmpDir string, r io.Reader, date time.Time, anon bool, received func()) (st *staged, unique string, disk, size int64, err error) {
	unique = m.newUnique()
	fh, made, err := m.stageFile(tmpDir, unique, anon)
	if err != nil {
		return nil, "", 0, 0, ioErr("create message", err)
	}
	defer func() {
		if err != nil {
			if made.fh == nil {
				fh.Close()
			}
			made.release()
		}
	}()
	st = made
	limit := m.opts.MaxMessageSize
	if limit < 0 {
		limit = 0
	}
	disk, size, err = copyToLF(fh, r, limit)
	if err != nil {
		var re *readErr
		if errors.As(err, &re) {
			return nil, "", 0, 0, re.err
		}
		if errors.Is(err, ErrTooBig) {
			return nil, "", 0, 0, err
		}
		return nil, "", 0, 0, ioErr("write message", err)
	}
	if !date.IsZero() {
		name := st.path
		if st.fh != nil {
			name = safeio.FDPath(fh)
		}
		if err = os.Chtimes(name, date, date); err != nil {
			return nil, "", 0, 0, ioErr("set message date", err)
		}
	}
	if received != nil {
		received()
	}
	if err = m.fs.Sync(fh); err != nil {
		return nil, "", 0, 0, ioErr("fsync message", err)
	}
	if st.fh == nil {
		if err = fh.Close(); err != nil {
			return nil, "", 0, 0, ioErr("close message", err)
		}
	}
	return st, unique, disk, size, nil
}

// placeStaged makes st visible as dst (see place); move lets a named file
// be taken by rename, for the last folder to get it.
func (m *Maildir) placeStaged(st *staged, dst, tmpDir string, move bool) error {
	if st.fh == nil {
		return m.place(st.path, dst, tmpDir, move)
	}
	err := m.fs.linkFile(st.fh, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return ioErr("place message", err)
	}
	// Another file system (a folder mounted elsewhere): a copy.
	return m.fs.writeFileAtomic(dst, tmpDir, m.newUnique(), func(w io.Writer) error {
		_, err := io.Copy(w, io.NewSectionReader(st.fh, 0, math.MaxInt64))
		return err
	})
}

// messageName is the file name of a message: key and, in cur/, the info.
func messageName(unique string, disk, size int64, inCur bool, sys uint8, extra string) string {
	name := fmt.Sprintf("%s,S=%d,W=%d", unique, disk, size)
	if inCur {
		name += ":" + buildInfo(sys, extra)
	}
	return name
}

// place makes src visible as dst: a rename when move is set, else a hard
// link; across file systems (EXDEV) it copies through tmpDir instead.
func (m *Maildir) place(src, dst, tmpDir string, move bool) error {
	var err error
	if move {
		err = m.fs.Rename(src, dst)
	} else {
		err = m.fs.Link(src, dst)
	}
	if !errors.Is(err, syscall.EXDEV) {
		return ioErr("place message", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return ioErr("copy message", err)
	}
	defer in.Close()
	err = m.fs.writeFileAtomic(dst, tmpDir, m.newUnique(), func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
	if err == nil && move {
		os.Remove(src)
	}
	return err
}

// Deliver writes one message durably into the INBOX of each user. The
// message is streamed to disk once, into the first user's tmp/, then
// hard-linked into every INBOX's new/ (the last one takes the file itself).
// Each INBOX is committed under its own user's lock in turn, never two at
// once; if any step fails, what was already committed is expunged again.
func (m *Maildir) Deliver(ctx context.Context, users []string, r io.Reader) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	var us []*userState
	seen := make(map[string]bool)
	for _, name := range users {
		canon, _, err := userPath(m.dir, name)
		if err != nil {
			return err
		}
		if seen[canon] {
			continue
		}
		seen[canon] = true
		u, err := m.user(canon)
		if err != nil {
			return err
		}
		us = append(us, u)
	}
	if len(us) == 0 {
		return fmt.Errorf("%w: no recipients", ErrNoUser)
	}
	// From the end of the message to the moment it joins a commit batch,
	// the delivery is counted in each user's incoming (groupcommit.go).
	// deliverOne takes its user out of the count; those it never reached
	// (us[handed:]) leave it here.
	counted, handed := false, 0
	defer func() {
		if counted {
			for _, u := range us[handed:] {
				u.leaveIncoming()
			}
		}
	}()
	received := func() {
		for _, u := range us {
			u.incoming.Add(1)
		}
		counted = true
	}
	st, unique, disk, size, err := m.writeTemp(us[0].tmpDir(), &finalNewline{r: r}, time.Time{}, len(us) == 1, received)
	if err != nil {
		return err
	}
	defer st.release()
	name := messageName(unique, disk, size, false, 0, "")
	date := time.Now().Truncate(time.Second)

	type done struct {
		u   *userState
		uid uint32
	}
	var made []done
	for i, u := range us {
		err := ctx.Err()
		var uid uint32
		if err == nil {
			handed = i + 1
			uid, err = m.deliverOne(u, st, name, disk, size, date, i == len(us)-1)
		}
		if err != nil {
			for _, d := range made {
				m.undeliver(d.u, d.uid)
			}
			m.log.Warn("delivery failed", "user", u.name, "err", err)
			return err
		}
		made = append(made, done{u, uid})
	}
	for _, d := range made {
		m.log.Info("delivered", "user", d.u.name, "folder", inboxName, "uid", d.uid, "size", size)
	}
	return nil
}

// deliverOne commits the staged file into one user's INBOX.
func (m *Maildir) deliverOne(u *userState, st *staged, name string, disk, size int64, date time.Time, last bool) (_ uint32, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	// The delivery stops counting as incoming now: under this one hold of
	// the lock it joins a batch below or fails, and on failure a leader
	// waiting for it is woken.
	u.incoming.Add(-1)
	defer func() {
		if err != nil {
			u.wakeLeaderLocked()
		}
	}()
	f, err := u.folderLocked(folderName{canon: inboxName})
	if err != nil {
		return 0, err
	}
	if err := f.syncLocked(); err != nil {
		return 0, err
	}
	dst := filepath.Join(f.dir, "new", name)
	if err := m.placeStaged(st, dst, filepath.Join(f.dir, "tmp"), last); err != nil {
		return 0, err
	}
	f.touchedLocked() // our own rename: no rescan for it
	msg := &message{disk: disk, size: size, date: date}
	msg.setName(name)
	return f.commitNewGroupLocked(msg, dst)
}

// commitNewLocked gives new messages (whose files are already in place and
// durable) UIDs and modseqs, journals them, and publishes them. On error
// nothing is published and the caller removes the files.
func (f *folderState) commitNewLocked(ms []*message) ([]uint32, error) {
	if uint64(f.uidNext)+uint64(len(ms)) >= math.MaxUint32 {
		return nil, fmt.Errorf("%w: UID space of %s exhausted", ErrCannot, f.name.canon)
	}
	var buf []byte
	uids := make([]uint32, len(ms))
	for i, msg := range ms {
		msg.uid = f.uidNext
		f.uidNext++ // burnt if the journal fails: never reused
		msg.modseq = f.nextModSeqLocked()
		msg.cache()
		uids[i] = msg.uid
		buf = appendRecord(buf, msg)
	}
	if err := f.journalLocked(buf); err != nil {
		return nil, err
	}
	f.touchedLocked()
	for _, msg := range ms {
		f.appendMsgLocked(msg)
		f.recordLocked(changeAdded, msg.uid, nil)
	}
	f.notifyAllLocked(nil)
	f.maybeCompactLocked()
	return uids, nil
}

// undeliver takes back a delivery after a later recipient failed.
func (m *Maildir) undeliver(u *userState, uid uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f, err := u.folderLocked(folderName{canon: inboxName})
	if err == nil {
		if msg := f.find(uid); msg != nil {
			err = f.removeMsgsLocked([]*message{msg}, nil)
		}
	}
	if err != nil {
		m.log.Error("could not take back partial delivery", "user", u.name, "uid", uid, "err", err)
	}
}

// removeMsgsLocked deletes message files, then journals the expunges and
// publishes them as made by origin. If the journal fails the files are gone
// anyway and the next scan records the expunges.
func (f *folderState) removeMsgsLocked(ms []*message, origin *handle) error {
	if len(ms) == 0 {
		return nil
	}
	var buf []byte
	subs := map[string]bool{}
	paths := make([]string, len(ms))
	for i, msg := range ms {
		paths[i] = f.path(msg)
		subs[msg.sub()] = true
	}
	if err := removeFiles(paths); err != nil {
		return ioErr("remove message", err)
	}
	for sub := range subs {
		if err := f.u.store.fs.syncDir(filepath.Join(f.dir, sub)); err != nil {
			return err
		}
	}
	for _, msg := range ms {
		buf = appendExpunge(buf, msg.uid, f.nextModSeqLocked())
	}
	if err := f.journalLocked(buf); err != nil {
		return err
	}
	f.touchedLocked()
	f.dropLocked(ms, origin)
	f.notifyAllLocked(origin)
	f.maybeCompactLocked()
	return nil
}

// finalNewline passes r through and adds CRLF at the end when r did not end
// with a line feed, as Postfix does: mail arriving over SMTP (BDAT can send
// a last line without one) is stored as whole lines, so that the size POP3
// LIST reports is what RETR sends, terminator aside (RFC 1939 §5 LIST,
// RFC 5322 §2.3). IMAP APPEND keeps exactly what the client sent.
type finalNewline struct {
	r      io.Reader
	sawAny bool
	lastLF bool
	ended  bool
	tail   []byte // owed after r ended
}

func (f *finalNewline) Read(p []byte) (int, error) {
	if f.ended {
		if len(f.tail) == 0 {
			return 0, io.EOF
		}
		n := copy(p, f.tail)
		f.tail = f.tail[n:]
		return n, nil
	}
	n, err := f.r.Read(p)
	if n > 0 {
		f.sawAny, f.lastLF = true, p[n-1] == '\n'
	}
	if err != io.EOF {
		return n, err
	}
	f.ended = true
	if f.sawAny && !f.lastLF {
		f.tail = []byte("\r\n")
	}
	k := copy(p[n:], f.tail)
	f.tail = f.tail[k:]
	if n+k == 0 {
		return 0, io.EOF
	}
	return n + k, nil
}

// removeWorkers is how many unlinks of one expunge run at once.
const removeWorkers = 8

// removeFiles removes the files at paths (one already gone is no error),
// several at a time when there are many. An unlink returns only once the
// file system has freed the file's blocks, and on a disk mounted with
// "discard" that waits for the device (perf of EXPUNGE of 20,000: most of
// its time in ext4's discard); the directory is locked only for the name,
// so concurrent unlinks wait for their devices together. On an error the
// other workers stop taking paths; what was removed by then stays removed,
// as with one at a time, and the caller's next scan records it.
func removeFiles(paths []string) error {
	workers := min(removeWorkers, (len(paths)+63)/64)
	if workers <= 1 {
		for _, p := range paths {
			if err := os.Remove(p); err != nil && !isNotExist(err) {
				return err
			}
		}
		return nil
	}
	var (
		next     atomic.Int64
		firstErr atomic.Pointer[error]
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for firstErr.Load() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(paths)) {
					return
				}
				if err := os.Remove(paths[i]); err != nil && !isNotExist(err) {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}
