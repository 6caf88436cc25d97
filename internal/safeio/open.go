package safeio

import (
	"errors"
	"os"
	"syscall"
)

// Open opens path as os.OpenFile does, but without offering the file to
// Go's network poller. os.OpenFile does that for every file, and on Linux
// a regular file or a directory costs it an epoll_ctl that fails and four
// fcntl calls to set and clear O_NONBLOCK around it: six system calls
// where two do (strace of a delivery, of FETCH and of RETR of many small
// messages). os.NewFile of a blocking descriptor checks its flags once
// and leaves the poller alone; reads, writes and fsync then go straight to
// the system, as they do after os.OpenFile's failed registration.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == nil {
			return os.NewFile(uintptr(fd), path), nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
}
