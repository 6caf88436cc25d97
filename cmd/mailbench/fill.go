package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// runAppend fills -mailbox with -n messages by APPEND over -c sessions
// (RFC 9051 §6.3.12), \Seen set as seenAt says.
func runAppend(ctx context.Context, o *options, r *reporter) error {
	g := newGenerator(o.from, o.rcpt)
	var next, bytes, errs atomic.Int64
	lats := make([][]time.Duration, o.conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := o.dialIMAP(ctx, nil)
			if err != nil {
				o.warnf("append: %v", err)
				return
			}
			defer closeIMAP(c)
			buf := make([]byte, 0, o.size+512)
			for ctx.Err() == nil {
				seq := int(next.Add(1) - 1)
				if seq >= o.n {
					return
				}
				buf = g.message(buf[:0], seq, o.size)
				t0 := time.Now()
				if err := appendOne(c, o.mailbox, buf, seq); err != nil {
					o.warnf("append %d: %v", seq, err)
					errs.Add(1)
					if errors.Is(err, errConnBroken) {
						return
					}
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
				bytes.Add(int64(len(buf)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	ok := int64(len(all))
	r.count("appended", ok, "msgs")
	r.count("errors", int64(o.n)-ok, "msgs")
	r.rate("msgs_per_s", float64(ok), elapsed, "msg/s")
	r.mbps("mb_per_s", bytes.Load(), elapsed)
	r.ms("p50_ms", percentile(all, 50))
	r.ms("p99_ms", percentile(all, 99))
	if ok < int64(o.n) {
		return fmt.Errorf("%w: %d of %d APPENDs failed or did not run", errCheck, int64(o.n)-ok, o.n)
	}
	return nil
}

var errConnBroken = errors.New("connection broken")

func appendOne(c *imapclient.Client, mailbox string, msg []byte, seq int) error {
	var flags []imap.Flag
	if seenAt(seq) {
		flags = []imap.Flag{imap.FlagSeen}
	}
	cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(msg); err != nil {
		cmd.Close()
		return fmt.Errorf("%w: %v", errConnBroken, err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("%w: %v", errConnBroken, err)
	}
	_, err := cmd.Wait()
	return err
}

// runFillMaildir writes -n message files straight into the Maildir at
// -maildir (cur/, flags in the ":2," suffix as seenAt says), the way a
// migration or a restore would, so that a 100,000-message folder takes
// seconds rather than an hour of APPENDs. The server is not involved: it
// must notice the files itself (both mailsuite and Dovecot rescan a folder
// whose directory changed). File names carry S= (size on disk, LF line
// ends) and W= (size with CRLF), as Dovecot writes them; a name's seconds
// are spread over the last -n seconds, as if one message had come each
// second. Files and any directories made take the owner of the nearest
// existing parent, so that a server running as another user can rename
// them. Ends with sync(2) so that write-back does not disturb the next
// measurement.
func runFillMaildir(ctx context.Context, o *options, r *reporter) error {
	if o.maildir == "" {
		return errors.New("fill-maildir needs -maildir")
	}
	uid, gid, err := ownerOfNearest(o.maildir)
	if err != nil {
		return err
	}
	chown := os.Geteuid() == 0 && (uid != os.Geteuid() || gid != os.Getegid())
	if err := mkdirOwned(o.maildir, uid, gid, chown); err != nil {
		return err
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := mkdirOwned(filepath.Join(o.maildir, sub), uid, gid, chown); err != nil {
			return err
		}
	}
	g := newGenerator(o.from, o.rcpt)
	now := time.Now().Unix()
	pid := os.Getpid()
	var next, bytes atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, o.size+512)
			for ctx.Err() == nil {
				seq := int(next.Add(1) - 1)
				if seq >= o.n {
					return
				}
				buf = g.message(buf[:0], seq, o.size)
				crlf := len(buf)
				lf := toLF(buf)
				info := ":2,"
				if seenAt(seq) {
					info = ":2,S"
				}
				name := fillName(g.run, now, o.n, seq, pid, len(lf), crlf) + info
				path := filepath.Join(o.maildir, "cur", name)
				err := os.WriteFile(path, lf, 0o600)
				if err == nil && chown {
					err = os.Chown(path, uid, gid)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				bytes.Add(int64(len(lf)))
			}
		}()
	}
	wg.Wait()
	syscall.Sync()
	elapsed := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	written := next.Load()
	if written > int64(o.n) {
		written = int64(o.n)
	}
	r.count("written", written, "msgs")
	r.rate("msgs_per_s", float64(written), elapsed, "msg/s")
	r.mbps("mb_per_s", bytes.Load(), elapsed)
	return nil
}

// fillName is the name (without the ":2," info) of fill file seq of n:
// <seconds>.M<microseconds>P<pid>Q<seq>.mailbench-<run>,S=<lf>,W=<crlf>,
// the seconds one per message up to now and the microseconds spread like
// a real delivery's. Names that differ only in a counter collide in
// Dovecot's file-name hash (a PJW hash that keeps mostly the last
// characters), which would make Dovecot look quadratic in a way its own
// deliveries never make it.
func fillName(run string, now int64, n, seq, pid, lf, crlf int) string {
	return fmt.Sprintf("%d.M%dP%dQ%d.mailbench-%s,S=%d,W=%d", now-int64(n-seq), uniqueMicros(run, seq), pid, seq, run[:8], lf, crlf)
}

func uniqueMicros(run string, seq int) int {
	h := fnv.New32a()
	h.Write([]byte(run))
	h.Write([]byte{byte(seq), byte(seq >> 8), byte(seq >> 16), byte(seq >> 24)})
	return int(h.Sum32() % 1_000_000)
}

// ownerOfNearest is the owner of path or of its nearest existing parent.
func ownerOfNearest(path string) (int, int, error) {
	p := filepath.Clean(path)
	for {
		fi, err := os.Stat(p)
		if err == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				return os.Geteuid(), os.Getegid(), nil
			}
			return int(st.Uid), int(st.Gid), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return 0, 0, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return 0, 0, err
		}
		p = parent
	}
}

// mkdirOwned makes dir and any missing parents (mode 0700), owned by
// uid:gid when chown is set.
func mkdirOwned(dir string, uid, gid int, chown bool) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirOwned(filepath.Dir(dir), uid, gid, chown); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if chown {
		return os.Chown(dir, uid, gid)
	}
	return nil
}
