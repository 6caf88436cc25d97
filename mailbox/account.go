package mailbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// account is one session's view of a user's tree; several may share a
// userState.
type account struct {
	store  *Maildir
	u      *userState
	closed atomic.Bool
}

var _ Account = (*account)(nil)

func (a *account) check() error {
	if a.store.closed.Load() || a.closed.Load() {
		return ErrClosed
	}
	return nil
}

// List returns every folder, INBOX first, then by name.
func (a *account) List() ([]FolderInfo, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	u := a.u
	u.mu.RLock()
	defer u.mu.RUnlock()
	ents, err := os.ReadDir(u.root)
	if err != nil {
		return nil, ioErr("list folders", err)
	}
	out := []FolderInfo{{Name: inboxName, SpecialUse: u.special[inboxName], Subscribed: u.subs[inboxName]}}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		n, ok := folderFromDir(e.Name())
		if !ok {
			continue
		}
		out = append(out, FolderInfo{Name: n.canon, SpecialUse: u.special[n.canon], Subscribed: u.subs[n.canon]})
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].Name < out[1+j].Name })
	return out, nil
}

// Create makes a folder (and any missing superior folders, RFC 9051
// §6.3.4). A trailing "/" is allowed and ignored. specialUse is "" or one
// of the Use* constants (RFC 6154 §3); anything else is ErrCannot.
func (a *account) Create(name, specialUse string) error {
	if err := a.check(); err != nil {
		return err
	}
	n, err := parseFolderName(strings.TrimSuffix(name, "/"))
	if err != nil {
		return err
	}
	if specialUse != "" && !validSpecialUse(specialUse) {
		return fmt.Errorf("%w: special use %q", ErrCannot, specialUse)
	}
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if n.isInbox() || u.exists(n) {
		return fmt.Errorf("%w: %s", ErrExists, n.canon)
	}
	if err := u.createParentsLocked(n); err != nil {
		return err
	}
	if err := u.createDirLocked(n); err != nil {
		return err
	}
	if specialUse != "" {
		u.special[n.canon] = specialUse
		if err := u.writeSpecialLocked(); err != nil {
			return err
		}
	}
	return nil
}

func (u *userState) createParentsLocked(n folderName) error {
	for _, p := range n.parents() {
		if !u.exists(p) {
			if err := u.createDirLocked(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes a folder and its messages; its children stay. The
// directory is first renamed out of the tree (atomic for other readers),
// then removed. Its special use goes with it; its subscription stays
// (RFC 3501 §6.3.6, RFC 9051 §6.3.7: the server "MUST NOT unilaterally
// remove" a subscribed name).
func (a *account) Delete(name string) error {
	if err := a.check(); err != nil {
		return err
	}
	n, err := parseFolderName(name)
	if err != nil {
		return err
	}
	if n.isInbox() {
		return fmt.Errorf("%w: cannot delete INBOX", ErrCannot)
	}
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.exists(n) {
		return fmt.Errorf("%w: %s", ErrNoMailbox, n.canon)
	}
	trash := filepath.Join(u.tmpDir(), "deleted-"+u.store.newUnique())
	if err := u.store.fs.Rename(u.folderDir(n), trash); err != nil {
		return ioErr("delete folder", err)
	}
	if err := u.store.fs.syncDir(u.root); err != nil {
		return err
	}
	if f, ok := u.folders[n.canon]; ok {
		f.vanishLocked()
	}
	if err := os.RemoveAll(trash); err != nil {
		u.store.log.Warn("could not remove deleted folder", "user", u.name, "folder", n.canon, "err", err)
	}
	return u.forgetLocked(n)
}

// forgetLocked drops a deleted folder's special use. Its subscription
// is kept: only UNSUBSCRIBE removes one.
func (u *userState) forgetLocked(n folderName) error {
	if _, ok := u.special[n.canon]; ok {
		delete(u.special, n.canon)
		return u.writeSpecialLocked()
	}
	return nil
}

// Rename renames a folder with its children (RFC 9051 §6.3.6). Handles
// open on them keep working under the new names. Renaming INBOX moves its
// messages into a new folder and leaves INBOX empty; INBOX's own children
// stay where they are.
func (a *account) Rename(oldName, newName string) error {
	if err := a.check(); err != nil {
		return err
	}
	on, err := parseFolderName(oldName)
	if err != nil {
		return err
	}
	nn, err := parseFolderName(strings.TrimSuffix(newName, "/"))
	if err != nil {
		return err
	}
	if nn.isInbox() {
		return fmt.Errorf("%w: INBOX", ErrExists)
	}
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if on.isInbox() {
		return u.renameInboxLocked(nn)
	}
	if !u.exists(on) {
		return fmt.Errorf("%w: %s", ErrNoMailbox, on.canon)
	}
	if u.exists(nn) {
		return fmt.Errorf("%w: %s", ErrExists, nn.canon)
	}
	if strings.HasPrefix(nn.canon, on.canon+"/") {
		return fmt.Errorf("%w: cannot rename a folder into itself", ErrCannot)
	}
	// The folder and its children: ".Old" and ".Old.*".
	ents, err := os.ReadDir(u.root)
	if err != nil {
		return ioErr("rename folder", err)
	}
	type move struct {
		from, to folderName
	}
	var moves []move
	for _, e := range ents {
		d := e.Name()
		if !e.IsDir() || (d != on.dir && !strings.HasPrefix(d, on.dir+".")) {
			continue
		}
		from, ok := folderFromDir(d)
		if !ok {
			continue
		}
		to, err := parseFolderName(nn.canon + strings.TrimPrefix(from.canon, on.canon))
		if err != nil {
			return err
		}
		if u.exists(to) {
			return fmt.Errorf("%w: %s", ErrExists, to.canon)
		}
		moves = append(moves, move{from, to})
	}
	if err := u.createParentsLocked(nn); err != nil {
		return err
	}
	for i, mv := range moves {
		if err := u.store.fs.Rename(u.folderDir(mv.from), u.folderDir(mv.to)); err != nil {
			for _, back := range moves[:i] {
				os.Rename(u.folderDir(back.to), u.folderDir(back.from))
			}
			return ioErr("rename folder", err)
		}
	}
	if err := u.store.fs.syncDir(u.root); err != nil {
		return err
	}
	specialChanged, subsChanged := false, false
	for _, mv := range moves {
		if f, ok := u.folders[mv.from.canon]; ok {
			delete(u.folders, mv.from.canon)
			f.name, f.dir = mv.to, u.folderDir(mv.to)
			u.folders[mv.to.canon] = f
		}
		if use, ok := u.special[mv.from.canon]; ok {
			delete(u.special, mv.from.canon)
			u.special[mv.to.canon] = use
			specialChanged = true
		}
		if u.subs[mv.from.canon] {
			delete(u.subs, mv.from.canon)
			u.subs[mv.to.canon] = true
			subsChanged = true
		}
	}
	if specialChanged {
		if err := u.writeSpecialLocked(); err != nil {
			return err
		}
	}
	if subsChanged {
		return u.writeSubsLocked()
	}
	return nil
}

// renameInboxLocked is RENAME INBOX (RFC 9051 §6.3.6): a new folder gets
// all of INBOX's messages (with new UIDs there) and INBOX is left empty.
func (u *userState) renameInboxLocked(nn folderName) error {
	if u.exists(nn) {
		return fmt.Errorf("%w: %s", ErrExists, nn.canon)
	}
	if err := u.createParentsLocked(nn); err != nil {
		return err
	}
	if err := u.createDirLocked(nn); err != nil {
		return err
	}
	src, err := u.folderLocked(folderName{canon: inboxName})
	if err != nil {
		return err
	}
	if err := src.syncLocked(); err != nil {
		return err
	}
	dst, err := u.folderLocked(nn)
	if err != nil {
		return err
	}
	all := append([]*message(nil), src.msgs...)
	if _, err := copyMsgsLocked(src, dst, all); err != nil {
		return err
	}
	return src.removeMsgsLocked(all, nil)
}

// SetSubscribed adds or removes a folder from the subscriptions file. A
// name that does not exist may be subscribed (RFC 9051 §6.3.7).
func (a *account) SetSubscribed(name string, subscribed bool) error {
	if err := a.check(); err != nil {
		return err
	}
	n, err := parseFolderName(name)
	if err != nil {
		return err
	}
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.subs[n.canon] == subscribed {
		return nil
	}
	if subscribed {
		u.subs[n.canon] = true
	} else {
		delete(u.subs, n.canon)
	}
	return u.writeSubsLocked()
}

// Subscriptions lists the subscribed names, INBOX first, then by name,
// folders or not.
func (a *account) Subscriptions() ([]string, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	u := a.u
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := sortedKeys(u.subs)
	if i := sort.SearchStrings(out, inboxName); i < len(out) && out[i] == inboxName {
		copy(out[1:i+1], out[:i])
		out[0] = inboxName
	}
	return out, nil
}

// Status returns a folder's counters without opening a handle. The
// counters are kept up to date in memory; the only disk access is two
// stats (and a scan if another program changed the folder).
func (a *account) Status(name string) (Status, error) {
	if err := a.check(); err != nil {
		return Status{}, err
	}
	n, err := parseFolderName(name)
	if err != nil {
		return Status{}, err
	}
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	f, err := u.folderLocked(n)
	if err != nil {
		return Status{}, err
	}
	if err := f.syncLocked(); err != nil {
		return Status{}, err
	}
	return f.status(), nil
}

// Append stores a message durably in a folder and returns its UID. The
// message is streamed to the folder's tmp/ without the lock; the lock is
// taken only to rename it into new/ (cur/ when it has flags), assign the
// UID and journal it. The internal date (zero: now) is kept in the index
// and as the file's mtime.
func (a *account) Append(name string, r io.Reader, flags []string, date time.Time) (uint32, uint32, error) {
	if err := a.check(); err != nil {
		return 0, 0, err
	}
	n, err := parseFolderName(name)
	if err != nil {
		return 0, 0, err
	}
	u := a.u
	if !n.isInbox() && !u.exists(n) {
		return 0, 0, fmt.Errorf("%w: %s", ErrNoMailbox, n.canon)
	}
	if date.IsZero() {
		date = time.Now()
	}
	date = date.Truncate(time.Second)
	tmpDir := filepath.Join(u.folderDir(n), "tmp")
	st, unique, disk, size, err := u.store.writeTemp(tmpDir, r, date, true, nil)
	if err != nil {
		if isNotExist(err) {
			return 0, 0, fmt.Errorf("%w: %s", ErrNoMailbox, n.canon)
		}
		return 0, 0, err
	}
	defer st.release()
	fl := parseFlags(flags)

	u.mu.Lock()
	defer u.mu.Unlock()
	f, err := u.folderLocked(n)
	if err != nil {
		return 0, 0, err
	}
	if err := f.syncLocked(); err != nil {
		return 0, 0, err
	}
	inCur := fl.sys != 0
	msg := &message{inCur: inCur, disk: disk, size: size, date: date}
	msg.setName(messageName(unique, disk, size, inCur, fl.sys, ""))
	msg.flags.keywords = fl.keywords
	dst := f.path(msg)
	if err := u.store.placeStaged(st, dst, tmpDir, true); err != nil {
		return 0, 0, err
	}
	if err := u.store.fs.syncDir(filepath.Dir(dst)); err != nil {
		os.Remove(dst)
		return 0, 0, err
	}
	uids, err := f.commitNewLocked([]*message{msg})
	if err != nil {
		os.Remove(dst)
		u.store.fs.syncDir(filepath.Dir(dst))
		return 0, 0, err
	}
	u.store.log.Info("appended", "user", u.name, "folder", n.canon, "uid", uids[0], "size", size)
	return f.uidValidity, uids[0], nil
}

// Open gives a handle on a folder (IMAP SELECT/EXAMINE, POP3).
func (a *account) Open(name string, readOnly bool) (Folder, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	n, err := parseFolderName(name)
	if err != nil {
		return nil, err
	}
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	f, err := u.folderLocked(n)
	if err != nil {
		return nil, err
	}
	if err := f.syncLocked(); err != nil {
		return nil, err
	}
	h := &handle{store: a.store, u: u, f: f, readOnly: readOnly, notify: make(chan struct{}, 1), cursor: f.logSeq}
	f.handles[h] = struct{}{}
	return h, nil
}

// Close ends the account; its handles stay usable until closed.
func (a *account) Close() error {
	a.closed.Store(true)
	return nil
}
