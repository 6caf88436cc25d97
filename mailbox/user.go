package mailbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/emersion/go-maildir"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Files in a user's root besides the INBOX Maildir and the .Folder
// directories.
const (
	subscriptionsFile = "subscriptions"         // Courier/Dovecot: one folder per line
	specialUseFile    = "mailsuite-specialuse"  // ours: "<\Use> <folder>" per line
	uidValidityFile   = "mailsuite-uidvalidity" // last UIDVALIDITY handed out
	maildirFolderFile = "maildirfolder"         // Maildir++ marker in each sub-folder
)

// defaultFolders are made on a user's first Account, with their RFC 6154
// special-use attributes, and subscribed. In a tree copied in from another
// server, a folder of one of the other names (what Apple Mail, Outlook and
// common Dovecot setups use) takes the attribute instead, and no new one
// is made.
var defaultFolders = [...]struct {
	name, use string
	others    []string
}{
	{"Sent", UseSent, []string{"Sent Messages", "Sent Items"}},
	{"Drafts", UseDrafts, nil},
	{"Trash", UseTrash, []string{"Deleted Messages", "Deleted Items"}},
	{"Junk", UseJunk, []string{"Spam", "Junk E-mail"}},
	{"Archive", UseArchive, []string{"Archives"}},
}

// userState is one user's tree. mu guards everything in it and in its
// folders (see Maildir).
type userState struct {
	store *Maildir
	name  string
	root  string

	mu      sync.RWMutex
	ready   bool
	folders map[string]*folderState // loaded folders by canonical name
	special map[string]string       // canonical folder name -> \Use
	subs    map[string]bool         // canonical folder names
	lastUV  uint32

	// incoming counts deliveries to the INBOX that are writing their
	// file and have not yet joined a commit batch (groupcommit.go).
	incoming atomic.Int32
}

// tmpDir is where the user's small files are staged (INBOX's tmp/).
func (u *userState) tmpDir() string { return filepath.Join(u.root, "tmp") }

// initLocked makes sure the tree exists. The first time (no special-use
// file yet) it creates the default folders and subscribes them.
func (u *userState) initLocked() error {
	if err := makeMaildir(u.root); err != nil {
		return err
	}
	fs := u.store.fs
	if err := fs.syncDir(filepath.Dir(u.root)); err != nil {
		return err
	}
	special, err := readSpecialUse(filepath.Join(u.root, specialUseFile))
	switch {
	case err == nil:
		u.special = special
	case isNotExist(err):
		// First use: a new account, or a tree copied in from another
		// server, whose subscriptions are kept (dovecot.go).
		u.special = make(map[string]string)
		u.subs, err = readSubscriptions(filepath.Join(u.root, subscriptionsFile))
		if err != nil && !isNotExist(err) {
			return ioErr("read subscriptions", err)
		}
		imported := len(u.subs) > 0
		u.subs[inboxName] = true
		_, uidErr := os.Stat(filepath.Join(u.root, dovecotUIDList))
		if _, err := os.Stat(filepath.Join(u.root, indexFileName)); isNotExist(err) && isNotExist(uidErr) {
			uv, err := u.newUIDValidityLocked()
			if err != nil {
				return err
			}
			err = fs.writeFileAtomic(filepath.Join(u.root, indexFileName), u.tmpDir(), "index-"+u.store.newUnique(),
				func(w io.Writer) error { return writeSnapshot(w, uv, 1, 1, nil, 0, 0) })
			if err != nil {
				return err
			}
		}
		for _, d := range defaultFolders {
			n, _ := parseFolderName(d.name)
			if !u.exists(n) {
				found := false
				for _, o := range d.others {
					if on, err := parseFolderName(o); err == nil && u.exists(on) {
						n, found = on, true
						break
					}
				}
				if !found {
					if err := u.createDirLocked(n); err != nil {
						return err
					}
					u.subs[n.canon] = true
				}
			}
			u.special[n.canon] = d.use
			if !imported {
				u.subs[n.canon] = true
			}
		}
		if err := u.writeSubsLocked(); err != nil {
			return err
		}
		if err := u.writeSpecialLocked(); err != nil {
			return err
		}
		u.store.log.Info("account created", "user", u.name)
	default:
		return ioErr("read special-use", err)
	}
	if u.subs == nil {
		subs, err := readSubscriptions(filepath.Join(u.root, subscriptionsFile))
		if err != nil && !isNotExist(err) {
			return ioErr("read subscriptions", err)
		}
		u.subs = subs
	}
	return nil
}

// makeMaildir creates dir (and its parents) with cur/ new/ tmp/, mode 0700.
func makeMaildir(dir string) error {
	if err := mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	return ioErr("mkdir", maildir.Dir(dir).Init())
}

// createDirLocked makes a sub-folder atomically: its Maildir is built under
// tmp/ and renamed into place, then the root is fsynced. Its index is
// written with a fresh UIDVALIDITY before it becomes visible.
func (u *userState) createDirLocked(n folderName) error {
	fs := u.store.fs
	stage := filepath.Join(u.tmpDir(), "folder-"+u.store.newUnique())
	if err := makeMaildir(stage); err != nil {
		return err
	}
	cleanup := func() { os.RemoveAll(stage) }
	if err := os.WriteFile(filepath.Join(stage, maildirFolderFile), nil, 0o600); err != nil {
		cleanup()
		return ioErr("create folder", err)
	}
	uv, err := u.newUIDValidityLocked()
	if err != nil {
		cleanup()
		return err
	}
	err = fs.writeFileAtomic(filepath.Join(stage, indexFileName), filepath.Join(stage, "tmp"), "index-"+u.store.newUnique(),
		func(w io.Writer) error { return writeSnapshot(w, uv, 1, 1, nil, 0, 0) })
	if err != nil {
		cleanup()
		return err
	}
	if err := fs.Rename(stage, filepath.Join(u.root, n.dir)); err != nil {
		cleanup()
		if os.IsExist(err) || isDirNotEmpty(err) {
			return fmt.Errorf("%w: %s", ErrExists, n.canon)
		}
		return ioErr("create folder", err)
	}
	return fs.syncDir(u.root)
}

// newUIDValidityLocked hands out a UIDVALIDITY: the current time in seconds,
// or one more than the last value handed out to this user if that is not
// smaller, so a value is never reused for any of the user's folders (RFC
// 9051 §2.3.1.1: a deleted and re-created folder must get a new one).
func (u *userState) newUIDValidityLocked() (uint32, error) {
	path := filepath.Join(u.root, uidValidityFile)
	if u.lastUV == 0 {
		if b, err := os.ReadFile(path); err == nil {
			v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
			u.lastUV = uint32(v)
		}
	}
	uv := uint32(time.Now().Unix())
	if uv <= u.lastUV {
		uv = u.lastUV + 1
	}
	err := u.store.fs.writeFileAtomic(path, u.tmpDir(), "uidvalidity-"+u.store.newUnique(), func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%d\n", uv)
		return err
	})
	if err != nil {
		return 0, err
	}
	u.lastUV = uv
	return uv, nil
}

// noteUIDValidityLocked records a UIDVALIDITY taken from elsewhere (a
// dovecot-uidlist) so that newUIDValidityLocked never hands it out again.
func (u *userState) noteUIDValidityLocked(uv uint32) error {
	path := filepath.Join(u.root, uidValidityFile)
	if u.lastUV == 0 {
		if b, err := os.ReadFile(path); err == nil {
			v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
			u.lastUV = uint32(v)
		}
	}
	if uv <= u.lastUV {
		return nil
	}
	err := u.store.fs.writeFileAtomic(path, u.tmpDir(), "uidvalidity-"+u.store.newUnique(), func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%d\n", uv)
		return err
	})
	if err != nil {
		return err
	}
	u.lastUV = uv
	return nil
}

func readSpecialUse(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		use, name, ok := strings.Cut(sc.Text(), " ")
		if !ok || !validSpecialUse(use) {
			continue
		}
		if n, ok := folderFromSubsName(name); ok {
			out[n.canon] = use
		}
	}
	return out, nil
}

// readSubscriptions reads a subscriptions file: ours (and Courier's,
// and Dovecot's version 1), one name a line (subsLine), or Dovecot's
// version 2, a "V\t2" line and a blank one, then one name a line with a
// tab between hierarchy levels (dovecot.go).
func readSubscriptions(path string) (map[string]bool, error) {
	out := make(map[string]bool)
	b, err := os.ReadFile(path)
	if err != nil {
		return out, err
	}
	v2 := bytes.HasPrefix(b, []byte("V\t2\n\n"))
	if v2 {
		b = b[len("V\t2\n\n"):]
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		var n folderName
		ok := false
		if v2 {
			parts := strings.Split(line, "\t")
			for i, p := range parts {
				parts[i] = unescapeDovecotTab(p)
			}
			n, ok = folderFromParts(parts)
		} else {
			n, ok = subsLine(strings.TrimSpace(line))
		}
		if ok {
			out[n.canon] = true
		}
	}
	return out, nil
}

func validSpecialUse(use string) bool {
	switch use {
	case UseSent, UseDrafts, UseTrash, UseJunk, UseArchive, UseAll, UseFlagged:
		return true
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (u *userState) writeSubsLocked() error {
	return u.store.fs.writeFileAtomic(filepath.Join(u.root, subscriptionsFile), u.tmpDir(), "subs-"+u.store.newUnique(), func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for _, name := range sortedKeys(u.subs) {
			n, err := parseFolderName(name)
			if err != nil {
				continue
			}
			fmt.Fprintf(bw, "%s\n", n.subsName())
		}
		return bw.Flush()
	})
}

func (u *userState) writeSpecialLocked() error {
	return u.store.fs.writeFileAtomic(filepath.Join(u.root, specialUseFile), u.tmpDir(), "special-"+u.store.newUnique(), func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for _, name := range sortedKeys(u.special) {
			n, err := parseFolderName(name)
			if err != nil {
				continue
			}
			fmt.Fprintf(bw, "%s %s\n", u.special[name], n.subsName())
		}
		return bw.Flush()
	})
}

// folderDir is the Maildir directory of a folder.
func (u *userState) folderDir(n folderName) string {
	if n.isInbox() {
		return u.root
	}
	return filepath.Join(u.root, n.dir)
}

// exists reports whether a folder's Maildir is there.
func (u *userState) exists(n folderName) bool {
	st, err := os.Stat(u.folderDir(n))
	return err == nil && st.IsDir()
}

// folderLocked returns the loaded state of a folder, loading its index and
// catching up with its files. ErrNoMailbox if it does not exist.
func (u *userState) folderLocked(n folderName) (*folderState, error) {
	if f, ok := u.folders[n.canon]; ok {
		if !f.gone {
			return f, nil
		}
		delete(u.folders, n.canon)
	}
	if !n.isInbox() && !u.exists(n) {
		return nil, fmt.Errorf("%w: %s", ErrNoMailbox, n.canon)
	}
	f, err := loadFolder(u, n)
	if err != nil {
		return nil, err
	}
	u.folders[n.canon] = f
	return f, nil
}

func isDirNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}
