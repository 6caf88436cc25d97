package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// ErrNoSpace is returned when the disk (or the quota) is full; smtpd
// answers it with 452 4.3.1.
var ErrNoSpace = errors.New("queue: no space left on device")

// fsOps are the file system calls that make a write durable
// (internal/safeio, the seam of STYLE.md §3). Every durable write of the
// package goes through them, so that a test can make any one fail; each
// Queue holds its own copy. The methods below only map safeio's errors to
// ErrNoSpace and the package's wording.
type fsOps struct{ safeio.FS }

func realFS() fsOps { return fsOps{safeio.OS()} }

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
	return ioErr("fsync dir", fs.SyncDir(dir))
}

// writeTemp writes data to a new file tmpDir/name and fsyncs it; the caller
// renames it into place. On error nothing is left behind.
func (fs fsOps) writeTemp(tmpDir, name string, data []byte) (string, error) {
	path, err := fs.CreateTemp(tmpDir, name, 0o600, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	return path, ioErr("write "+name, err)
}

// writeAtomic replaces path with data durably: temp file in tmpDir, fsync,
// rename, fsync of path's directory. On error before the rename, path
// keeps its old content; if only the final directory fsync fails the new
// content is in place but may not survive a crash, and the error says so.
func (fs fsOps) writeAtomic(path, tmpDir string, data []byte) error {
	err := fs.WriteFunc(path, tmpDir, filepath.Base(path)+"."+randomID(8), 0o600, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return ioErr("write "+filepath.Base(path), err)
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
