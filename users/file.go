package users

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileOptions configure a FileDB.
type FileOptions struct {
	// Domains are the local domains (the config's domains); compared
	// without regard to case.
	Domains []string
	// Delimiter separates a subaddress from the user name
	// ("alice+tag@…"); "+" when empty. It must satisfy ValidDelimiter.
	Delimiter string
	// Logger receives one line per notable event (file reloaded, file
	// unreadable, bad stored hash); never a password. Nil: discard.
	Logger *slog.Logger
	// HashParams for new passwords; zero fields take argon2id defaults.
	HashParams HashParams
	// NoCreate: a missing file (or directory) is not created but read as
	// an empty database, for callers that only look, like `config check`.
	NoCreate bool
	// RecheckInterval is how long HasUser trusts the version in memory
	// before it looks at the file again (one stat(2)); every other call
	// looks each time. 0 means DefaultRecheckInterval; negative, every
	// call.
	RecheckInterval time.Duration
}

// DefaultRecheckInterval bounds how long a user deleted by another process
// (`mailsuite user del`) keeps using the sessions open at the time.
const DefaultRecheckInterval = time.Second

// FileDB is the embedded users database: one JSON file (see store.go),
// written atomically under an flock so that several processes (the server
// and `mailsuite user …`) may share it. Every call checks the file's
// identity with one stat(2) and reloads it when another process changed it,
// so the server needs no restart after an admin command.
//
// FileDB implements DB and Admin and is safe for concurrent use.
type FileDB struct {
	path     string
	lockPath string
	noCreate bool // opened with FileOptions.NoCreate
	log      *slog.Logger
	params   HashParams
	delim    string

	// writeFile is the atomic-write seam; tests replace it to fail.
	writeFile func(path string, data []byte, prev fileSig) error

	// For HasUser: the file was last looked at checked after epoch
	// (monotonic clock).
	recheck time.Duration
	epoch   time.Time
	checked atomic.Int64

	mu      sync.RWMutex
	domains map[string]bool // lower case
	cur     *db             // last good snapshot; never nil
	sig     fileSig         // signature of the file cur was read from
	badSig  *fileSig        // signature of a version that failed to load, logged once

	dummyOnce sync.Once
	dummy     string // hash of a random password, for unknown users
}

var (
	_ DB    = (*FileDB)(nil)
	_ Admin = (*FileDB)(nil)
)

// OpenFile opens the users file at path, creating it (and its directory)
// empty when it is missing, unless opts.NoCreate. An existing file that
// cannot be parsed is an error that names the problem.
func OpenFile(path string, opts FileOptions) (*FileDB, error) {
	if opts.Delimiter == "" {
		opts.Delimiter = "+"
	}
	if !ValidDelimiter(opts.Delimiter) {
		return nil, fmt.Errorf("users: recipient delimiter %q is not one of %s", opts.Delimiter, atextSpecials)
	}
	if err := opts.HashParams.withDefaults().check(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f := &FileDB{
		path:      path,
		lockPath:  path + ".lock",
		log:       opts.Logger.With("component", "users", "file", path),
		params:    opts.HashParams.withDefaults(),
		delim:     opts.Delimiter,
		writeFile: writeAtomic,
		cur:       emptyDB(),
		recheck:   opts.RecheckInterval,
		epoch:     time.Now(),
		noCreate:  opts.NoCreate,
	}
	if f.recheck == 0 {
		f.recheck = DefaultRecheckInterval
	}
	f.SetDomains(opts.Domains)
	if !opts.NoCreate {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("users: %w", err)
		}
		if err := f.createIfMissing(); err != nil {
			return nil, err
		}
	}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		f.log.Warn("users file is readable by other users; run chmod 600 on it", "mode", fi.Mode().Perm().String())
	}
	return f, nil
}

// createIfMissing writes an empty database when the file does not exist.
func (f *FileDB) createIfMissing() error {
	if _, err := os.Stat(f.path); !errors.Is(err, fs.ErrNotExist) {
		return nil // exists, or a stat error that Reload will report
	}
	unlock, err := lockExclusive(f.lockPath)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(f.path); !errors.Is(err, fs.ErrNotExist) {
		return nil // another process made it while we waited
	}
	data, err := encodeDB(emptyDB())
	if err != nil {
		return err
	}
	if err := f.writeFile(f.path, data, fileSig{}); err != nil {
		return fmt.Errorf("users: creating %s: %w", f.path, err)
	}
	f.log.Info("created empty users file")
	return nil
}

// SetDomains replaces the set of local domains (after a config reload).
func (f *FileDB) SetDomains(domains []string) {
	m := make(map[string]bool, len(domains))
	for _, d := range domains {
		m[strings.ToLower(d)] = true
	}
	f.mu.Lock()
	f.domains = m
	f.mu.Unlock()
}

// IsLocalDomain reports whether mail for domain is ours.
func (f *FileDB) IsLocalDomain(domain string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.domains[strings.ToLower(domain)]
}

// localDomains returns the local domains, sorted.
func (f *FileDB) localDomains() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Sorted(maps.Keys(f.domains))
}

// readFile reads and parses the file, returning the snapshot and the
// signature of exactly the version read (from fstat on the open file). A
// missing file is an empty database.
func readFile(path string) (*db, fileSig, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return emptyDB(), fileSig{}, nil
	}
	if err != nil {
		return nil, fileSig{}, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, fileSig{}, err
	}
	// The file holds hashes of a few hundred bytes per user; a limit keeps
	// a mistaken path (a mailbox, a disk image) from being read whole.
	const maxFileSize = 64 << 20
	if fi.Size() > maxFileSize {
		return nil, fileSig{}, fmt.Errorf("%w: larger than %d bytes", errFormat, maxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(file, maxFileSize+1))
	if err != nil {
		return nil, fileSig{}, err
	}
	d, err := decodeDB(data)
	if err != nil {
		return nil, fileSig{}, err
	}
	return d, sigOf(fi), nil
}

// Reload reads the file now, whatever its signature says (for SIGHUP). On
// error the previous snapshot stays in use and the error is returned.
func (f *FileDB) Reload() error {
	d, sig, err := readFile(f.path)
	if err != nil {
		return fmt.Errorf("users: reading %s: %w", f.path, err)
	}
	f.mu.Lock()
	f.cur, f.sig, f.badSig = d, sig, nil
	f.mu.Unlock()
	return nil
}

// snapshot returns the current database, reloading it first when the file
// changed since it was read. A version that fails to load is logged once
// and the last good snapshot is kept; a deleted file is an empty database.
func (f *FileDB) snapshot() *db {
	sig, err := statSig(f.path)
	f.checked.Store(int64(time.Since(f.epoch)))
	f.mu.RLock()
	cur, same, bad := f.cur, sig == f.sig, f.badSig != nil && *f.badSig == sig
	f.mu.RUnlock()
	if err != nil {
		f.log.Error("cannot stat users file; using the last version read", "err", err)
		return cur
	}
	if same || bad {
		return cur
	}
	d, readSig, err := readFile(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		if f.badSig == nil || *f.badSig != sig {
			f.log.Error("users file changed but cannot be loaded; still using the last good version", "err", err)
		}
		f.badSig = &sig
		return f.cur
	}
	if !readSig.exists {
		f.log.Warn("users file is gone; no user can log in or receive mail until it is back")
	} else {
		f.log.Info("users file reloaded", "users", len(d.users), "aliases", len(d.aliases))
	}
	f.cur, f.sig, f.badSig = d, readSig, nil
	return d
}

// HasUser reports whether user is an account. It looks at the file only
// when no call has for RecheckInterval; in between it is a map lookup
// under a read lock. A change made through f itself is seen at once.
func (f *FileDB) HasUser(user string) bool {
	var d *db
	if f.recheck > 0 && time.Since(f.epoch)-time.Duration(f.checked.Load()) < f.recheck {
		f.mu.RLock()
		d = f.cur
		f.mu.RUnlock()
	} else {
		d = f.snapshot()
	}
	_, ok := d.users[strings.ToLower(user)]
	return ok
}

// update is the read-modify-write of every Admin method: under the lock
// file, read the file fresh (never the cache: another process may have
// written it), let change edit a copy, and write the result atomically. A
// file that cannot be parsed is not overwritten.
func (f *FileDB) update(change func(d *db) error) error {
	if f.noCreate {
		if _, err := os.Stat(f.path); errors.Is(err, fs.ErrNotExist) {
			// Nothing to change in a database that does not exist: the
			// change's own refusal (no such user) says so best.
			if err := change(emptyDB()); err != nil {
				return err
			}
			return fmt.Errorf("users: %s does not exist; check data_dir in the config, or add a user first", f.path)
		}
	}
	unlock, err := lockExclusive(f.lockPath)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer unlock()
	old, oldSig, err := readFile(f.path)
	if err != nil {
		return fmt.Errorf("users: reading %s: %w; fix or restore it before changing users", f.path, err)
	}
	d := old.clone()
	if err := change(d); err != nil {
		return err
	}
	data, err := encodeDB(d)
	if err != nil {
		return fmt.Errorf("users: encoding: %w", err)
	}
	if err := f.writeFile(f.path, data, oldSig); err != nil {
		return fmt.Errorf("users: writing %s: %w", f.path, err)
	}
	if sig, err := statSig(f.path); err == nil {
		f.mu.Lock()
		f.cur, f.sig, f.badSig = d, sig, nil
		f.mu.Unlock()
	}
	return nil
}
