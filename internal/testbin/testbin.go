// Package testbin builds a command of this module once per test process,
// for end-to-end tests that run the real binary as a child process (the
// way net/http/httptest serves tests). It is for tests only.
package testbin

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary is one command, built on first use.
type Binary struct {
	pkg  string // the package to build, as `go build` takes it
	name string

	once sync.Once
	path string
	err  error
}

// New returns a Binary for the package pkg (relative to the test's
// directory, like "." or "../mailsuite"), named name on disk.
func New(pkg, name string) *Binary { return &Binary{pkg: pkg, name: name} }

// Path builds the binary the first time and returns its path; a failed
// build fails every test that asks.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "mailsuite-test-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.name)
		if out, err := exec.Command("go", "build", "-o", b.path, b.pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Remove deletes what Path built; call it from TestMain after m.Run.
func (b *Binary) Remove() {
	if b.path != "" {
		os.RemoveAll(filepath.Dir(b.path))
	}
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreePort returns a loopback TCP port that was free a moment ago and that
// no earlier call in this process returned. The kernel may hand out a port
// again as soon as the probe closes it, so two listeners of one test
// instance could otherwise be given the same port.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for try := 0; try < 100; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given[port] {
			given[port] = true
			return port
		}
	}
	t.Fatal("testbin: no new free loopback port after 100 tries")
	return 0
}

// SMTPGreeted reports whether the SMTP server at addr answers with its 220
// greeting. serve binds its listeners before it makes the certificate and
// opens the store, so an open port does not yet mean it serves.
func SMTPGreeted(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "220 ")
}
