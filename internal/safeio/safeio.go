// Package safeio makes file writes durable and atomic: a temporary file in
// the same file system is written, fsynced, closed, renamed over the target,
// and the target's directory is fsynced, so a reader or a crash sees the old
// content or the new, never a part (STYLE.md §3).
//
// The file system calls that decide durability go through an FS value, the
// seam tests use to make any one of them fail; there is no package-level
// state. safeio owns no error vocabulary: callers map ENOSPC, EDQUOT and the
// rest to their own sentinels with errors.Is on what it returns.
package safeio

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// FS holds the calls that make a write durable or visible. OS returns the
// real ones; a test replaces a field to make it fail.
type FS struct {
	Sync   func(f *os.File) error // fsync of a file or a directory
	Rename func(oldpath, newpath string) error
	Link   func(oldname, newname string) error
	// LinkFile gives the open file f the name newpath: an anonymous file
	// (OpenAnonymous) becomes visible there. Nil means the real one.
	LinkFile func(f *os.File, newpath string) error
}

// OS returns an FS that calls the operating system.
func OS() FS {
	return FS{Sync: (*os.File).Sync, Rename: os.Rename, Link: os.Link, LinkFile: LinkFile}
}

// SyncDir fsyncs the directory dir, making the names created, renamed or
// removed in it durable.
func (fs FS) SyncDir(dir string) error {
	d, err := Open(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	err = fs.Sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "fsync dir", Path: dir, Err: err}
	}
	return nil
}

// CreateTemp makes a new file in dir (name, or a fresh random name when
// name is ""), with permissions mode, lets write fill it, fsyncs and closes
// it, and returns its path; the caller renames it into place (Commit). On
// any error nothing is left behind. The file is created with O_EXCL, so an
// existing name is an error, never overwritten.
func (fs FS) CreateTemp(dir, name string, mode os.FileMode, write func(f *os.File) error) (_ string, err error) {
	var f *os.File
	if name == "" {
		f, err = os.CreateTemp(dir, ".tmp-*")
		if err == nil && mode != 0o600 {
			if err = f.Chmod(mode); err != nil {
				f.Close()
				os.Remove(f.Name())
				return "", err
			}
		}
	} else {
		f, err = os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	}
	if err != nil {
		return "", err
	}
	path := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if write != nil {
		if err = write(f); err != nil {
			return "", err
		}
	}
	if err = fs.Sync(f); err != nil {
		return "", &os.PathError{Op: "fsync", Path: path, Err: err}
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return path, nil
}

// Commit renames the finished temporary file tmp over path and fsyncs
// path's directory. If the rename fails tmp is removed and path keeps its
// old content. If only the directory fsync fails the new content is in
// place but may not survive a crash; it is not taken back (that would lose
// the old content too), and the error says so to the caller.
func (fs FS) Commit(tmp, path string) error {
	if err := fs.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return fs.SyncDir(filepath.Dir(path))
}

// WriteFunc replaces path durably with what write produces, staging it as
// tmpDir/tmpName (tmpDir must be on path's file system; tmpName "" picks a
// random name in tmpDir). On error before the rename path is unchanged and
// no temporary file is left; see Commit for a failed directory fsync.
func (fs FS) WriteFunc(path, tmpDir, tmpName string, mode os.FileMode, write func(w io.Writer) error) error {
	tmp, err := fs.CreateTemp(tmpDir, tmpName, mode, func(f *os.File) error { return write(f) })
	if err != nil {
		return err
	}
	return fs.Commit(tmp, path)
}

// WriteFile replaces path durably with data, staging it in a randomly
// named file in path's own directory, created with permissions mode.
func (fs FS) WriteFile(path string, data []byte, mode os.FileMode) error {
	return fs.WriteFunc(path, filepath.Dir(path), "", mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Append appends data to the existing file path and fsyncs it. A failure
// may leave part of data at the end of the file; callers whose format
// cannot tolerate a torn tail must detect it when reading.
func (fs FS) Append(path string, data []byte) error {
	f, err := Open(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		if err = fs.Sync(f); err != nil {
			err = &os.PathError{Op: "fsync", Path: path, Err: err}
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
