package main

// Helpers over the harness (harness_test.go) for the hardening tests:
// privileges, the crash harness, the storage faults.

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nobody returns the uid and gid of the user "nobody", skipping the test
// when not root or when there is no such user.
func nobody(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: this test starts the server as root and checks that it drops to nobody")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// openUp lets every user reach the instance's directory (t.TempDir makes
// its directories 0700), as /var/lib is reachable on a real system.
func openUp(t *testing.T, in *instance) {
	t.Helper()
	for _, d := range []string{filepath.Dir(in.dir), in.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(in.config, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setListen rewrites one [listen] address in the instance's config.
func setListen(t *testing.T, in *instance, key, addr string) {
	t.Helper()
	b, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf("%s = %q\n", key, in.addr[key])
	s := strings.Replace(string(b), old, fmt.Sprintf("%s = %q\n", key, addr), 1)
	if s == string(b) {
		t.Fatalf("no %q in the config", old)
	}
	if err := os.WriteFile(in.config, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	in.addr[key] = addr
}

// lowPort finds a port below 1024 that is free on 127.0.0.1.
func lowPort(t *testing.T) string {
	t.Helper()
	for p := 1000; p > 500; p-- {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Skip("no free port below 1024 on 127.0.0.1")
	return ""
}

// stablePorts moves every listener of in to a port below the kernel's
// ephemeral range. freePort's ports come from that range, which every
// outgoing connection also draws its local port from: under a workload of
// thousands of connections, one of them may hold a listener's port as its
// own when the server restarts, and the restart fails with "address
// already in use".
func stablePorts(t *testing.T, in *instance) {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	if lo <= 11000 {
		return // an unusual range: keep freePort's ports
	}
	for _, key := range listenKeys {
		for try := 0; ; try++ {
			addr := "127.0.0.1:" + strconv.Itoa(10000+rand.IntN(lo-10000))
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				setListen(t, in, key, addr)
				break
			}
			if try > 100 {
				t.Fatal("no free port below the ephemeral range")
			}
		}
	}
}
