package mailbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// fsOps are the file system calls that make a write durable or visible
// (internal/safeio, the seam of STYLE.md §3). Every durable write in the
// package goes through them, so a test can make any of them fail. A Maildir
// holds its own copy; there is no package-level state. The methods below
// only map safeio's errors to the package's sentinels.
type fsOps struct{ safeio.FS }

func realFS() fsOps { return fsOps{safeio.OS()} }

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

// linkFile names the open (anonymous) file f newpath.
func (fs fsOps) linkFile(f *os.File, newpath string) error {
	if fs.LinkFile == nil {
		return safeio.LinkFile(f, newpath)
	}
	return fs.LinkFile(f, newpath)
}

// syncDir fsyncs a directory so that names created or removed in it are
// durable.
func (fs fsOps) syncDir(dir string) error {
	return ioErr("fsync dir", fs.SyncDir(dir))
}

// writeFileAtomic writes path durably and atomically through
// safeio.FS.WriteFunc, staging the content as tmpDir/tmpName (same file
// system). On any error nothing is visible at path (the old content, if
// any, stays) and the temporary file is removed, except when only the final
// directory fsync fails: then the new content is in place but may not
// survive a crash, and callers treat the error as saying so.
func (fs fsOps) writeFileAtomic(path, tmpDir, tmpName string, write func(w io.Writer) error) error {
	return ioErr("write "+filepath.Base(path), fs.WriteFunc(path, tmpDir, tmpName, 0o600, write))
}

// appendDurable appends data to the existing file path and fsyncs it.
func (fs fsOps) appendDurable(path string, data []byte) error {
	return ioErr("append index", fs.Append(path, data))
}

// mkdirAll creates dir and its parents with private permissions.
func mkdirAll(dir string) error {
	return ioErr("mkdir", os.MkdirAll(dir, 0o700))
}
