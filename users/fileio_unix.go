//go:build unix

package users

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// fileSig identifies one version of the users file cheaply, from a stat.
// Writers replace the file by rename, so a new version has a new inode; an
// inode can be reused once the old file is gone, so writeAtomic also makes
// every version's mtime strictly later than the one it replaces. Together
// they let a reader in another process notice any change made through this
// package without reading the file.
type fileSig struct {
	exists bool
	dev    uint64
	ino    uint64
	size   int64
	mtime  int64 // UnixNano
}

func sigOf(fi fs.FileInfo) fileSig {
	s := fileSig{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), uint64(st.Ino)
	}
	return s
}

// statSig returns the signature of the file at path; a missing file has the
// zero signature and no error.
func statSig(path string) (fileSig, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileSig{}, nil
	}
	if err != nil {
		return fileSig{}, err
	}
	return sigOf(fi), nil
}

// lockExclusive takes an advisory flock(2) on lockPath, creating it, and
// returns the function that releases it. Each call opens its own file
// description, so two FileDBs in one process exclude each other exactly as
// two processes do. Readers take no lock: they see whole files only, since
// writers replace the file by rename.
func lockExclusive(lockPath string) (unlock func(), err error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	return func() {
		// Closing the descriptor releases the lock.
		f.Close()
	}, nil
}

// writeAtomic replaces path with data so that a reader, or a crash, sees
// either the old content or the new, never a part (internal/safeio: a
// temporary file in the same directory, mode 0600, fsynced, renamed over
// path, the directory fsynced). prev is the signature of the file being
// replaced; the new file's mtime is pushed past it, before the rename, if
// the clock has not moved on (see fileSig).
func writeAtomic(path string, data []byte, prev fileSig) error {
	fsys := safeio.OS()
	tmp, err := fsys.CreateTemp(filepath.Dir(path), "", 0o600, func(f *os.File) error {
		if _, err := f.Write(data); err != nil {
			return err
		}
		return bumpMtime(f, prev)
	})
	if err != nil {
		return err
	}
	return fsys.Commit(tmp, path)
}

// bumpMtime makes f's mtime later than prev's when it is not already.
// Some file systems keep coarse times, so it tries growing steps.
func bumpMtime(f *os.File, prev fileSig) error {
	if !prev.exists {
		return nil
	}
	for _, step := range []time.Duration{time.Nanosecond, time.Microsecond, time.Second, 2 * time.Second} {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.ModTime().UnixNano() > prev.mtime {
			return nil
		}
		t := time.Unix(0, prev.mtime).Add(step)
		if err := os.Chtimes(f.Name(), t, t); err != nil {
			return err
		}
	}
	return nil
}
