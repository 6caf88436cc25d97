package mailbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// fsOps are the file system calls that make a write durable or visible.
// Every durable write in the package goes through them, so a test can make
// any of them fail (the seam of STYLE.md §3). A Maildir holds its own copy;
// there is no package-level state.
type fsOps struct {
	sync   func(f *os.File) error // fsync of a file or directory
	rename func(oldpath, newpath string) error
	link   func(oldname, newname string) error
}

func realFS() fsOps {
	return fsOps{
		sync:   (*os.File).Sync,
		rename: os.Rename,
		link:   os.Link,
	}
}

// ioErr maps low-level errors to the package's sentinels, keeping the detail
// for the log: ENOSPC is ErrNoSpace, EDQUOT is ErrOverQuota.
func ioErr(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %s: %v", ErrNoSpace, op, err)
	case errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %s: %v", ErrOverQuota, op, err)
	}
	return fmt.Errorf("mailbox: %s: %w", op, err)
}

// syncDir fsyncs a directory so that names created or removed in it are
// durable.
func (fs fsOps) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return ioErr("open dir", err)
	}
	err = fs.sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return ioErr("fsync dir", err)
}

// writeFileAtomic writes path durably and atomically: the content goes to a
// new file in tmpDir (same file system), which is fsynced, renamed over path,
// and path's directory is fsynced. On any error nothing is visible at path
// (the old content, if any, stays) and the temporary file is removed, except
// when only the final directory fsync fails (see below).
func (fs fsOps) writeFileAtomic(path, tmpDir, tmpName string, write func(w io.Writer) error) (err error) {
	tmp := filepath.Join(tmpDir, tmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return ioErr("create temp file", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return ioErr("write "+filepath.Base(path), err)
	}
	if err = fs.sync(f); err != nil {
		return ioErr("fsync "+filepath.Base(path), err)
	}
	if err = f.Close(); err != nil {
		return ioErr("close "+filepath.Base(path), err)
	}
	if err = fs.rename(tmp, path); err != nil {
		return ioErr("rename "+filepath.Base(path), err)
	}
	// If this fsync fails the new content is in place but not known to be
	// durable; it is not taken back, since that would lose the old content
	// too. Callers treat the error as "may not survive a crash".
	return fs.syncDir(filepath.Dir(path))
}

// appendDurable appends data to the existing file path and fsyncs it.
func (fs fsOps) appendDurable(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return ioErr("open index", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = fs.sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return ioErr("append index", err)
}

// mkdirAll creates dir and its parents with private permissions.
func mkdirAll(dir string) error {
	return ioErr("mkdir", os.MkdirAll(dir, 0o700))
}
