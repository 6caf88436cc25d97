package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Queue is the outbound queue of one data directory. Open it, Submit
// messages, Start the delivery, and Shutdown at the end. It is safe for
// concurrent use.
type Queue struct {
	dir     string
	tmpDir  string
	mailDir string
	ctlDir  string
	opts    Options
	log     *slog.Logger
	fs      fsOps

	keysMu sync.RWMutex
	keys   *Keyring

	ctx    context.Context // ends at Shutdown's deadline: cuts connections
	cancel context.CancelFunc

	mu      sync.Mutex
	entries map[string]*entry
	sched   scheduler
	started bool
	closing bool
	wake    chan struct{} // the timer loop re-reads the schedule
	loops   sync.WaitGroup
	workers sync.WaitGroup
}

// entry is one queued message in memory.
type entry struct {
	id string

	// mu guards rec and the writing of the envelope file. It is never
	// held across network I/O: an attempt copies what it needs first.
	mu      sync.Mutex
	rec     *Record
	dirty   bool // rec differs from the file (a write failed)
	removed bool // files gone; no more writes

	// Guarded by Queue.mu (taken before mu when both are held):
	jobs    []*job // scheduled, not running
	running int    // jobs being attempted
	deleted bool   // `queue delete`: drop after the running jobs end
}

// Open opens (creating it if needed) the queue in dir and loads what is
// queued there. It delivers nothing until Start.
func Open(dir string, opts Options) (*Queue, error) {
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return nil, err
	}
	q := &Queue{
		dir:     dir,
		tmpDir:  filepath.Join(dir, "tmp"),
		mailDir: filepath.Join(dir, "mail"),
		ctlDir:  filepath.Join(dir, "ctl"),
		opts:    opts,
		log:     opts.Logger.With("component", "queue"),
		fs:      realFS(),
		entries: map[string]*entry{},
		wake:    make(chan struct{}, 1),
	}
	q.sched.init()
	q.ctx, q.cancel = context.WithCancel(context.Background())
	for _, d := range []string{q.tmpDir, q.mailDir, q.ctlDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, ioErr("mkdir", err)
		}
	}
	if err := q.ReloadKeys(); err != nil {
		return nil, err
	}
	if err := q.load(); err != nil {
		return nil, err
	}
	return q, nil
}

// ReloadKeys reads the DKIM keys again (at SIGHUP). On error the keys in
// use stay.
func (q *Queue) ReloadKeys() error {
	if q.opts.DKIMDir == "" {
		return nil
	}
	k, err := LoadKeys(q.opts.DKIMDir)
	if err != nil {
		return err
	}
	q.keysMu.Lock()
	q.keys = k
	q.keysMu.Unlock()
	for _, d := range k.Domains() {
		q.log.Info("dkim signing on", "domain", d, "selectors", k.Selectors(d))
	}
	return nil
}

func (q *Queue) keyring() *Keyring {
	q.keysMu.RLock()
	defer q.keysMu.RUnlock()
	return q.keys
}

// load empties tmp/, reads every envelope, drops message files without
// one (a Submit that never finished), and moves unreadable envelopes to
// corrupt/.
func (q *Queue) load() error {
	if ents, err := os.ReadDir(q.tmpDir); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(q.tmpDir, e.Name()))
		}
	}
	ents, err := os.ReadDir(q.mailDir)
	if err != nil {
		return ioErr("read queue", err)
	}
	envs := map[string]bool{}
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".env"); ok {
			envs[id] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		if id, ok := strings.CutSuffix(name, ".msg"); ok && !envs[id] {
			q.log.Info("removing message without envelope (submission never completed)", "id", id)
			os.Remove(filepath.Join(q.mailDir, name))
		}
	}
	now := time.Now()
	for id := range envs {
		rec, err := readRecord(q.mailDir, id)
		if err == nil {
			if _, serr := os.Stat(filepath.Join(q.mailDir, id+".msg")); serr != nil {
				err = fmt.Errorf("message file: %w", serr)
			}
		}
		if err != nil {
			q.quarantine(id, err)
			continue
		}
		e := &entry{id: id, rec: rec}
		q.entries[id] = e
		q.scheduleLocked(e, now)
	}
	if n := len(q.entries); n > 0 {
		q.log.Info("queue loaded", "messages", n)
	}
	return nil
}

// readRecord reads and parses dir/ID.env, checking that it names itself.
func readRecord(dir, id string) (*Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, id+".env"))
	if err != nil {
		return nil, err
	}
	rec, err := parseRecord(data)
	if err != nil {
		return nil, err
	}
	if rec.ID != id {
		return nil, recordErr("file %s.env holds id %s", id, rec.ID)
	}
	return rec, nil
}

// quarantine moves a message whose envelope cannot be used out of the
// way, keeping both files for the operator.
func (q *Queue) quarantine(id string, why error) {
	dir := filepath.Join(q.dir, "corrupt")
	os.MkdirAll(dir, 0o700)
	for _, ext := range []string{".env", ".msg"} {
		os.Rename(filepath.Join(q.mailDir, id+ext), filepath.Join(dir, id+ext))
	}
	q.log.Error("unreadable queue entry moved aside", "id", id, "dir", dir, "err", why)
}

// Message is what Submit needs besides the content.
type Message struct {
	// ID names the message; "" makes a new one (NewID). It must be
	// unique in the queue.
	ID   string
	From string // reverse-path, "" for <>
	// User is the authenticated user who submitted it; DSNs go to their
	// INBOX. "": no DSN.
	User string
	// Rcpts are the remote recipients. None: the content is only spooled
	// for Local (see Submit) and then dropped.
	Rcpts []string
	UTF8  bool // the submission used SMTPUTF8
	// SignDomain is the domain whose DKIM keys sign the message (the From
	// header's domain); "" or a domain without keys: not signed.
	SignDomain string
}

// Local delivers the local recipients' copies from the spooled content;
// open may be called more than once, each time from the start.
type Local func(open func() (io.ReadCloser, error)) error

// Submit spools the content read from r (CRLF line ends, as it will be
// sent), signs it, queues it durably for m.Rcpts, and then calls local
// (if not nil) for the local recipients. It returns nil only when the
// message is on disk and fsynced and local returned nil; the workers get
// it only then. If local fails, the queued copy is removed again and
// local's error returned, so that the client's retry sends no duplicate.
// An error of r (the SMTP layer's size limit, a hang-up) is returned as is.
func (q *Queue) Submit(ctx context.Context, m Message, r io.Reader, local Local) (string, error) {
	id := m.ID
	if id == "" {
		id = NewID()
	}
	if !validID(id) {
		return "", fmt.Errorf("queue: invalid id %q", id)
	}
	rec := &Record{Version: recordVersion, ID: id, From: m.From, User: m.User, Created: time.Now().UTC(), UTF8: m.UTF8}
	for _, a := range m.Rcpts {
		rec.Rcpts = append(rec.Rcpts, Rcpt{Addr: a, Status: StatusQueued})
	}
	remote := len(rec.Rcpts) > 0
	if remote {
		if err := rec.validate(); err != nil {
			return "", err
		}
	}
	q.mu.Lock()
	_, dup := q.entries[id]
	closing := q.closing
	q.mu.Unlock()
	if dup {
		return "", fmt.Errorf("queue: id %s is already queued", id)
	}
	if closing && remote {
		return "", errors.New("queue: shutting down")
	}

	tmp := filepath.Join(q.tmpDir, id+".msg")
	size, sigs, eight, err := q.spool(tmp, r, m.SignDomain, remote)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // a no-op once renamed
	open := func() (io.ReadCloser, error) { return os.Open(tmp) }
	if !remote {
		if local != nil {
			return id, local(open)
		}
		return id, nil
	}
	rec.Size = size
	rec.DKIM = sigs
	rec.Body = Body7Bit
	if eight {
		rec.Body = Body8BitMIME
	}
	e := &entry{id: id, rec: rec}
	if err := q.commit(e, tmp); err != nil {
		return "", err
	}
	msgPath := filepath.Join(q.mailDir, id+".msg")
	if local != nil {
		err := local(func() (io.ReadCloser, error) { return os.Open(msgPath) })
		if err != nil {
			q.removeFiles(e, true)
			return "", err
		}
	}
	q.mu.Lock()
	q.entries[id] = e
	q.scheduleLocked(e, time.Now())
	q.mu.Unlock()
	q.kick()
	q.log.Info("queued", "id", id, "from", m.From, "rcpts", len(m.Rcpts), "size", size, "dkim", len(sigs))
	return id, nil
}

// spool writes the content to path, computing the DKIM signatures and
// whether it has 8-bit octets on the way; durable says whether to fsync
// it.
func (q *Queue) spool(path string, r io.Reader, signDomain string, durable bool) (size int64, sigs []string, eight bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, nil, false, ioErr("create spool file", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	scan := &eightBitScan{}
	var w io.Writer = io.MultiWriter(f, scan)
	var signer *multiSigner
	if durable && signDomain != "" {
		if k := q.keyring(); k != nil {
			signer = k.newSigner(signDomain, q.log)
		}
	}
	if signer != nil {
		defer signer.abort()
		w = io.MultiWriter(f, scan, signer)
	}
	// smtpd hands the data over in 1 KiB reads; write in bigger pieces.
	bw := bufio.NewWriterSize(w, 64<<10)
	size, err = copyFile(bw, r)
	if err == nil {
		err = ioErr("write message", bw.Flush())
	}
	if err != nil {
		return 0, nil, false, err
	}
	if durable {
		if err = q.fs.Sync(f); err != nil {
			return 0, nil, false, ioErr("fsync message", err)
		}
	}
	if err = f.Close(); err != nil {
		return 0, nil, false, ioErr("close message", err)
	}
	if signer != nil {
		sigs = signer.finish()
	}
	return size, sigs, scan.found, nil
}

// commit makes a spooled message queued: the envelope is written and
// fsynced, the message renamed into mail/ before the envelope, and the
// directory fsynced once for both.
func (q *Queue) commit(e *entry, tmpMsg string) error {
	data, err := e.rec.encode()
	if err != nil {
		return err
	}
	tmpEnv, err := q.fs.writeTemp(q.tmpDir, e.id+".env", data)
	if err != nil {
		return err
	}
	msgPath := filepath.Join(q.mailDir, e.id+".msg")
	envPath := filepath.Join(q.mailDir, e.id+".env")
	if err := q.fs.Rename(tmpMsg, msgPath); err != nil {
		os.Remove(tmpEnv)
		return ioErr("rename message", err)
	}
	if err := q.fs.Rename(tmpEnv, envPath); err != nil {
		os.Remove(tmpEnv)
		os.Remove(msgPath)
		return ioErr("rename envelope", err)
	}
	if err := q.fs.syncDir(q.mailDir); err != nil {
		// Not known to be durable: take it back so that the client's
		// retry is the only copy.
		q.removeFiles(e, true)
		return err
	}
	return nil
}

// removeFiles deletes a message: the envelope first (the message is no
// longer queued from then on), then the content. durable fsyncs the
// directory, for removals that must not come back after a crash; a
// message whose recipients are all recorded as done needs no fsync, since
// coming back would only have it removed again.
func (q *Queue) removeFiles(e *entry, durable bool) error {
	e.removed = true
	err := os.Remove(filepath.Join(q.mailDir, e.id+".env"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr("remove envelope", err)
	}
	if durable {
		err = q.fs.syncDir(q.mailDir)
	}
	os.Remove(filepath.Join(q.mailDir, e.id+".msg"))
	return err
}

// save writes e's record, or removes the message when every recipient is
// done. e.mu is held.
func (q *Queue) saveLocked(e *entry) error {
	if e.removed {
		return nil
	}
	done := true
	for i := range e.rec.Rcpts {
		if !e.rec.Rcpts[i].Done() {
			done = false
			break
		}
	}
	if done {
		// Removing the envelope is the durable "done" for the last
		// recipients: fsync, or a crash could bring back a record that
		// says they are still queued.
		return q.removeFiles(e, true)
	}
	data, err := e.rec.encode()
	if err == nil {
		err = q.fs.writeAtomic(filepath.Join(q.mailDir, e.id+".env"), q.tmpDir, data)
	}
	e.dirty = err != nil
	return err
}

// Start begins delivery: due messages go out at once, the others at their
// time.
func (q *Queue) Start() {
	q.mu.Lock()
	if q.started || q.closing {
		q.mu.Unlock()
		return
	}
	q.started = true
	q.mu.Unlock()
	q.loops.Add(2)
	go q.timerLoop()
	go q.controlLoop()
	q.kick()
}

// Shutdown stops starting attempts and waits for the running ones to end.
// When ctx ends first, their connections are cut (what they had not
// recorded is tried again after the next start) and ctx's error returned.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.kick()
	done := make(chan struct{})
	go func() {
		q.loops.Wait()
		q.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		q.cancel()
		return nil
	case <-ctx.Done():
		q.cancel()
		<-done
		return ctx.Err()
	}
}

// Close is Shutdown without waiting: connections are cut at once.
func (q *Queue) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q.Shutdown(ctx)
	return nil
}

// Len is the number of messages queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}
