package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNoSpace is returned when the disk (or the quota) is full; smtpd
// answers it with 452 4.3.1.
var ErrNoSpace = errors.New("queue: no space left on device")

// fsOps are the file system calls that make a write durable. Every durable
// write of the package goes through them, so that a test can make any one
// fail (STYLE.md §3); each Queue holds its own copy.
type fsOps struct {
	sync   func(f *os.File) error // fsync of a file or a directory
	rename func(oldpath, newpath string) error
}

func realFS() fsOps {
	return fsOps{sync: (*os.File).Sync, rename: os.Rename}
}

// ioErr keeps the detail for the log and makes ENOSPC and EDQUOT
// recognisable as ErrNoSpace.
func ioErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %s: %v", ErrNoSpace, op, err)
	}
	return fmt.Errorf("queue: %s: %w", op, err)
}

// syncDir fsyncs a directory, making the names created, renamed or
// removed in it durable.
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

// writeTemp writes data to a new file in tmpDir and fsyncs it; the caller
// renames it into place. On error nothing is left behind.
func (fs fsOps) writeTemp(tmpDir, name string, data []byte) (_ string, err error) {
	path := filepath.Join(tmpDir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", ioErr("create temp file", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return "", ioErr("write "+name, err)
	}
	if err = fs.sync(f); err != nil {
		return "", ioErr("fsync "+name, err)
	}
	if err = f.Close(); err != nil {
		return "", ioErr("close "+name, err)
	}
	return path, nil
}

// writeAtomic replaces path with data durably: temp file, fsync, rename,
// fsync of path's directory. On error before the rename, path keeps its
// old content; if only the final directory fsync fails the new content is
// in place but may not survive a crash, and the error says so.
func (fs fsOps) writeAtomic(path, tmpDir string, data []byte) error {
	tmp, err := fs.writeTemp(tmpDir, filepath.Base(path)+"."+randomID(8), data)
	if err != nil {
		return err
	}
	if err := fs.rename(tmp, path); err != nil {
		os.Remove(tmp)
		return ioErr("rename "+filepath.Base(path), err)
	}
	return fs.syncDir(filepath.Dir(path))
}

// copyFile is io.Copy that reports the write side's errors through ioErr
// and leaves the reader's own errors as they are (a size limit hit by the
// SMTP layer must reach the client unchanged).
func copyFile(dst io.Writer, src io.Reader) (int64, error) {
	var n int64
	buf := make([]byte, 32<<10)
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			w, werr := dst.Write(buf[:m])
			n += int64(w)
			if werr != nil {
				return n, ioErr("write message", werr)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
