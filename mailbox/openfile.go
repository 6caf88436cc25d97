package mailbox

import (
	"errors"
	"os"
	"syscall"
)

// openMessage opens a message file for reading, as os.Open does but in
// two system calls instead of six: os.Open offers every file it opens to
// the network poller, which on Linux costs an epoll_ctl that fails for a
// regular file and four fcntl calls to set and clear O_NONBLOCK around it
// (strace of FETCH and RETR of many small messages). os.NewFile of a
// blocking descriptor checks its flags once and leaves the poller alone;
// reads then go straight to read(2), as they did after os.Open's
// failed registration.
func openMessage(path string) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == nil {
			return os.NewFile(uintptr(fd), path), nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
}
