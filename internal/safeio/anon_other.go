//go:build !linux

package safeio

import (
	"errors"
	"os"
)

// Anonymous files need Linux's O_TMPFILE (anon_linux.go); elsewhere they
// are never used.

func OpenAnonymous(dir, name string) (*os.File, error) {
	return nil, &os.PathError{Op: "open anonymous", Path: dir, Err: errors.ErrUnsupported}
}

func AnonymousUnsupported(err error) bool { return true }

func FDPath(f *os.File) string { return f.Name() }

func LinkFile(f *os.File, newpath string) error {
	return &os.LinkError{Op: "link", Old: f.Name(), New: newpath, Err: errors.ErrUnsupported}
}

func AnonymousWorks(dir string) bool { return false }
