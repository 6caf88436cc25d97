package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair: the master (our keyboard and
// screen) and the slave (the command's stdin).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Skipf("TIOCGPTN: %v", e)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Skipf("TIOCSPTLCK: %v", e)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the pty slave: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// On a terminal the password is asked twice, and two different answers
// change nothing.
func TestPasswordPromptOnTerminal(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")

	type result struct {
		out, errOut string
		code        int
	}
	runOnPTY := func(answers ...string) result {
		master, slave := openPTY(t)
		done := make(chan result, 1)
		var out, errOut bytes.Buffer
		go func() {
			code := run([]string{"--config", cfg, "user", "add", "tty@example.org"}, slave, &out, &errOut)
			done <- result{out.String(), errOut.String(), code}
		}()
		// Drain what the terminal echoes so that it never blocks.
		go func() {
			buf := make([]byte, 1024)
			for {
				if _, err := master.Read(buf); err != nil {
					return
				}
			}
		}()
		// The terminal keeps typed lines until they are read, and each
		// prompt reads one line, so the answers may all be typed at once.
		for _, a := range answers {
			master.Write([]byte(a + "\n"))
		}
		select {
		case r := <-done:
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("the command did not finish after both answers")
			return result{}
		}
	}

	r := runOnPTY("first", "second")
	if r.code != 1 || r.out != "" || !strings.HasSuffix(r.errOut, "mailsuite: the two passwords differ; nothing was changed\n") ||
		!strings.Contains(r.errOut, "New password for tty@example.org: ") || !strings.Contains(r.errOut, "Repeat it: ") {
		t.Fatalf("mismatch: %+v", r)
	}
	if strings.Contains(r.errOut, "first") || strings.Contains(r.errOut, "second") {
		t.Fatalf("the password was written out: %q", r.errOut)
	}
	if db := openDB(t, dataDir); func() bool { l, _ := db.ListUsers(); return len(l) != 0 }() {
		t.Fatal("a user was added although the passwords differed")
	}

	r = runOnPTY("same password", "same password")
	if r.code != 0 || r.out != "user tty@example.org added\n" {
		t.Fatalf("match: %+v", r)
	}
	if _, err := openDB(t, dataDir).Authenticate(t.Context(), "tty@example.org", "same password"); err != nil {
		t.Fatalf("password typed at the terminal does not work: %v", err)
	}
}
