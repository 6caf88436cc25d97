package queue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The functions here read or change a queue directory directly, for the
// command line. List and Read are safe while a server runs (envelopes are
// replaced atomically); RetryOffline and DeleteOffline are not, and the
// caller must hold the data directory's lock (no server running); with a
// server, use Request.

// List returns the envelope of every queued message, oldest first.
// Unreadable envelopes are skipped and reported in the error.
func List(dir string) ([]*Record, error) {
	mail := filepath.Join(dir, "mail")
	ents, err := os.ReadDir(mail)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []*Record
	var errs []error
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".env")
		if !ok {
			continue
		}
		rec, err := readRecord(mail, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // delivered meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *Record) int { return a.Created.Compare(b.Created) })
	return recs, errors.Join(errs...)
}

// Read returns one message's envelope and its header section.
func Read(dir, id string) (*Record, []byte, error) {
	if !validID(id) {
		return nil, nil, fmt.Errorf("%w: %q", ErrNotQueued, id)
	}
	mail := filepath.Join(dir, "mail")
	rec, err := readRecord(mail, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotQueued, id)
	}
	if err != nil {
		return nil, nil, err
	}
	var hdr []byte
	if f, err := os.Open(filepath.Join(mail, id+".msg")); err == nil {
		hdr = readHeaderSection(io.LimitReader(f, maxDSNHeaders*2), maxDSNHeaders, "\x00")
		f.Close()
	}
	return rec, hdr, nil
}

// RetryOffline makes message id (or "all") due at the next start.
func RetryOffline(dir, target string) (int, error) {
	recs, err := List(dir)
	if err != nil && len(recs) == 0 {
		return 0, err
	}
	fsys := realFS()
	n := 0
	for _, rec := range recs {
		if target != "all" && rec.ID != target {
			continue
		}
		n++
		for i := range rec.Rcpts {
			if rec.Rcpts[i].Status == StatusQueued {
				rec.Rcpts[i].Next = time.Time{}
			}
		}
		data, err := rec.encode()
		if err == nil {
			err = fsys.writeAtomic(filepath.Join(dir, "mail", rec.ID+".env"), filepath.Join(dir, "tmp"), data)
		}
		if err != nil {
			return n, err
		}
	}
	if n == 0 && target != "all" {
		return 0, fmt.Errorf("%w: %s", ErrNotQueued, target)
	}
	return n, nil
}

// DeleteOffline removes message id from the queue.
func DeleteOffline(dir, id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: %q", ErrNotQueued, id)
	}
	mail := filepath.Join(dir, "mail")
	err := os.Remove(filepath.Join(mail, id+".env"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotQueued, id)
	}
	if err != nil {
		return err
	}
	if err := realFS().syncDir(mail); err != nil {
		return err
	}
	os.Remove(filepath.Join(mail, id+".msg"))
	return nil
}

// Pending summarises a record for `queue list`: the recipients not yet
// done, the most attempts any of them had, the earliest next try and the
// last error.
func (r *Record) Pending() (rcpts []string, attempts int, next time.Time, lastErr string) {
	for i := range r.Rcpts {
		rc := &r.Rcpts[i]
		if rc.Done() {
			continue
		}
		rcpts = append(rcpts, rc.Addr)
		attempts = max(attempts, rc.Attempts)
		if rc.Status == StatusQueued && (next.IsZero() || rc.Next.Before(next)) {
			next = rc.Next
		}
		if lastErr == "" && rc.Error != "" {
			lastErr = rc.Error
		}
	}
	return
}
