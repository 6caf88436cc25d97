package config

import (
	"os"
	"runtime"
	"syscall"
	"testing"
)

// nobody is the uid and gid of the unprivileged user tests run as.
const nobody = 65534

// asUnprivileged runs f as a user that permission bits bind. When the
// test runs as root, f runs on a goroutine of its own, locked to its OS
// thread, whose credentials alone are dropped to nobody with raw
// setresgid/setresuid (Linux credentials are per thread; syscall.Setuid
// would change every thread). The goroutine ends without unlocking, so
// the runtime retires that thread, and it never clones a locked thread
// (new threads come from its template thread), so no other goroutine runs
// as nobody. Files f uses must be reachable by nobody. t.Errorf only in f.
func asUnprivileged(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		f()
		return
	}
	failed := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, nobody, nobody, nobody); e != 0 {
			failed <- e
			return
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, nobody, nobody, nobody); e != 0 {
			failed <- e
			return
		}
		f()
		failed <- nil
	}()
	if err := <-failed; err != nil {
		t.Skipf("cannot drop to uid %d on this thread: %v", nobody, err)
	}
}
