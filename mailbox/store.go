package mailbox

import (
	"github.com/mailsuite/mailsuite/internal/safeio"

	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a Maildir store. Zero values get the defaults noted.
type Options struct {
	Logger   *slog.Logger // default: slog.Default()
	Hostname string       // for unique file names; default: os.Hostname()

	// MaxMessageSize limits one message in CRLF octets (Deliver, Append):
	// ErrTooBig. Default 100 MiB; negative: no limit.
	MaxMessageSize int64
	// PollInterval is how often folders with open handles are checked for
	// changes made by other programs (so that IDLE hears of them). Default
	// 1s; negative: no background watcher.
	PollInterval time.Duration
	// ChangeLogSize bounds the in-memory change log of each folder.
	// Handles that lag further have the changes folded into their own
	// pending set (exact, see changes.go). Default 4096.
	ChangeLogSize int
	// CompactMin is the journal length under which the index is never
	// compacted; above it, compaction happens once the journal is longer
	// than the folder. Default 1000.
	CompactMin int
}

const (
	defaultMaxMessageSize = 100 << 20
	defaultPollInterval   = time.Second
	defaultChangeLogSize  = 4096
	defaultCompactMin     = 1000
	// defaultMtimeWindow: a directory whose mtime is this close to the
	// time it was scanned may have changed again within the same
	// timestamp tick (or second, on coarse file systems), so it is
	// scanned once more after the window has passed.
	defaultMtimeWindow = time.Second
	lockFileName       = ".mailsuite.lock"
)

// Maildir is the Maildir++ store: one tree per user below a mail root,
// dir/<domain>/<local>/. It implements Store.
//
// One process owns a mail root at a time (an exclusive flock on
// dir/.mailsuite.lock): two processes appending to the same UID index
// would hand out the same UIDs.
//
// Locking: one sync.RWMutex per user (userState.mu) guards that user's
// folders, indexes, change logs and handles. Methods take it themselves;
// helpers that need it held end in Locked. No method holds two users' locks
// at once or holds a lock while reading a caller's reader.
type Maildir struct {
	dir      string
	log      *slog.Logger
	opts     Options
	host     string
	pid      int
	counter  atomic.Uint64
	fs       fsOps
	window   time.Duration // mtime trust window; tests shorten it
	lockFile *os.File
	// anon: messages are staged as anonymous files (staging.go); set at
	// Open when the file system allows it, cleared by tests of the other
	// way.
	anon bool

	mu     sync.Mutex
	users  map[string]*userState
	closed atomic.Bool

	stop chan struct{}
	done chan struct{}
}

var _ Store = (*Maildir)(nil)

// Open opens (creating if needed) the mail root dir.
func Open(dir string, opts Options) (*Maildir, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.MaxMessageSize == 0 {
		opts.MaxMessageSize = defaultMaxMessageSize
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = defaultPollInterval
	}
	if opts.ChangeLogSize <= 0 {
		opts.ChangeLogSize = defaultChangeLogSize
	}
	if opts.CompactMin <= 0 {
		opts.CompactMin = defaultCompactMin
	}
	if err := mkdirAll(dir); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, ioErr("open lock file", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("mailbox: mail root %s is in use by another process: %w", dir, err)
	}
	m := &Maildir{
		dir:      dir,
		log:      opts.Logger.With("component", "mailbox"),
		opts:     opts,
		host:     escapeHost(opts.Hostname),
		pid:      os.Getpid(),
		fs:       realFS(),
		window:   defaultMtimeWindow,
		lockFile: lf,
		users:    make(map[string]*userState),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	m.anon = safeio.AnonymousWorks(dir)
	m.log.Debug("staging messages", "anonymous_files", m.anon)
	if opts.PollInterval > 0 {
		go m.watch(opts.PollInterval)
	} else {
		close(m.done)
	}
	return m, nil
}

// Close stops the watcher and releases the mail root. Open accounts and
// handles fail with ErrClosed afterwards.
func (m *Maildir) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	close(m.stop)
	<-m.done
	m.mu.Lock()
	for _, u := range m.users {
		u.mu.Lock()
		for _, f := range u.folders {
			f.notifyAllLocked(nil)
		}
		u.mu.Unlock()
	}
	m.mu.Unlock()
	syscall.Flock(int(m.lockFile.Fd()), syscall.LOCK_UN)
	return m.lockFile.Close()
}

// newUnique returns a fresh unique part for a message file name.
func (m *Maildir) newUnique() string {
	return uniqueName(time.Now(), m.pid, m.counter.Add(1), m.host)
}

// user returns the state of a user, loading (and creating) their tree.
func (m *Maildir) user(name string) (*userState, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	canon, dir, err := userPath(m.dir, name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	u, ok := m.users[canon]
	if !ok {
		u = &userState{store: m, name: canon, root: dir, folders: make(map[string]*folderState)}
		m.users[canon] = u
	}
	m.mu.Unlock()
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.ready {
		if err := u.initLocked(); err != nil {
			return nil, err
		}
		u.ready = true
	}
	return u, nil
}

// Account opens a user's tree, creating it on first use.
func (m *Maildir) Account(user string) (Account, error) {
	u, err := m.user(user)
	if err != nil {
		return nil, err
	}
	return &account{store: m, u: u}, nil
}

func (m *Maildir) checkOpen() error {
	if m.closed.Load() {
		return ErrClosed
	}
	return nil
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
