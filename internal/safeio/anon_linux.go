package safeio

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Anonymous files (Linux O_TMPFILE, open(2)): a file made in a directory
// without a name, written and fsynced, then given its name with linkat(2).
// Until it is linked nothing can see it, and a crash or an error leaves
// nothing behind: the file system frees an unlinked inode by itself. It
// saves the create and the rename of a named temporary file, two directory
// operations that concurrent writers in one directory queue on.

// OpenAnonymous makes an anonymous file, open for reading and writing, in
// the file system of dir. name is what f.Name() reports (the file has
// none). It fails with an error for which AnonymousUnsupported is true
// where the file system or kernel cannot do it.
func OpenAnonymous(dir, name string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open anonymous", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// AnonymousUnsupported reports whether err from OpenAnonymous says that
// the file system, not the directory, cannot make anonymous files.
func AnonymousUnsupported(err error) bool {
	pe, ok := err.(*os.PathError)
	if !ok {
		return false
	}
	switch pe.Err {
	case unix.EOPNOTSUPP, unix.EISDIR, unix.EINVAL:
		return true
	}
	return false
}

// FDPath is a path that names f itself (through /proc), for calls that
// take a path: the way to reach an anonymous file.
func FDPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// LinkFile gives the open file f the name newpath (linkat(2) through
// /proc/self/fd, which needs no privilege, unlike AT_EMPTY_PATH). The
// name is durable once newpath's directory is fsynced.
func LinkFile(f *os.File, newpath string) error {
	err := unix.Linkat(unix.AT_FDCWD, FDPath(f), unix.AT_FDCWD, newpath, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: newpath, Err: err}
	}
	return nil
}

// AnonymousWorks tries the whole course once in dir (make, link, remove)
// and reports whether it works there: the kernel and file system support
// it and /proc is mounted.
func AnonymousWorks(dir string) bool {
	f, err := OpenAnonymous(dir, "probe")
	if err != nil {
		return false
	}
	defer f.Close()
	name := filepath.Join(dir, ".anonymous-probe-"+strconv.Itoa(os.Getpid()))
	os.Remove(name)
	if LinkFile(f, name) != nil {
		return false
	}
	return os.Remove(name) == nil
}
