package main

// Privilege dropping (issue 5, point 7) through the real binary, as root
// (CI runs as root; elsewhere these tests skip).

import (
	"bufio"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

// procStatus returns the fields of /proc/<pid>/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		out[k] = strings.Join(strings.Fields(v), " ")
	}
	return out
}

// Started as root with [server] user = "nobody", serve binds a port below
// 1024, then runs as nobody for good: real, effective, saved and file-system
// IDs, no supplementary groups of root, no capabilities. data_dir is made
// 0700 and everything in it belongs to nobody, including what `user add`
// run as root wrote; mail flows.
func TestServeDropsPrivileges(t *testing.T) {
	uid, gid := nobody(t)
	in := newInstance(t, "[server]\nuser = \"nobody\"\n")
	openUp(t, in)
	setListen(t, in, "smtp", lowPort(t))
	in.addUser("alice@example.org", "alice-password")
	in.start()
	in.waitLog("mailsuite ready")
	in.waitLog(`msg="switched to the unprivileged user after binding the listeners" user=nobody`)

	st := procStatus(t, in.cmd.Process.Pid)
	ids := func(n int) string { s := strconv.Itoa(n); return s + " " + s + " " + s + " " + s }
	if st["Uid"] != ids(uid) || st["Gid"] != ids(gid) {
		t.Errorf("/proc status: Uid %q Gid %q, want %q and %q", st["Uid"], st["Gid"], ids(uid), ids(gid))
	}
	if g := st["Groups"]; strings.Contains(" "+g+" ", " 0 ") {
		t.Errorf("still in group 0: Groups %q", g)
	}
	for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
		if st[c] != "0000000000000000" {
			t.Errorf("%s = %s, want no capabilities", c, st[c])
		}
	}

	// Mail through the port below 1024, read back over IMAP: serving works.
	if err := inboundSend(in, "x@elsewhere.test", []string{"alice@example.org"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		t.Fatalf("delivery on %s: %v", in.addr["smtp"], err)
	}
	c, err := imapclient.DialStartTLS(in.addr["imap"], &imapclient.Options{TLSConfig: in.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("alice@example.org", "alice-password").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 {
		t.Fatalf("INBOX: %v, %v", sel, err)
	}
	c.Close()

	fi, err := os.Stat(in.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data_dir mode %v, want 0700", fi.Mode().Perm())
	}
	n := 0
	filepath.WalkDir(in.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		info, _ := d.Info()
		if s, ok := info.Sys().(*syscall.Stat_t); ok && (int(s.Uid) != uid || int(s.Gid) != gid) {
			t.Errorf("%s belongs to %d:%d, want nobody %d:%d", path, s.Uid, s.Gid, uid, gid)
		}
		n++
		return nil
	})
	if n < 5 {
		t.Errorf("only %d entries in data_dir", n)
	}
	if err := in.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// Root with no [server] user and a listener beyond loopback: refused
// before anything is bound or created, saying what to do.
func TestServeRefusesRootWithoutUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	in := newInstance(t, "")
	_, port, _ := net.SplitHostPort(in.addr["imap"])
	setListen(t, in, "imap", "0.0.0.0:"+port)
	out, errOut, code := in.run("", "serve", "--config", in.config)
	if code != exitError || !strings.Contains(errOut, "refusing to run as root") || !strings.Contains(errOut, `[server] user = "mailsuite"`) ||
		!strings.Contains(errOut, "AmbientCapabilities=CAP_NET_BIND_SERVICE") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(in.dataDir); !os.IsNotExist(err) {
		t.Errorf("data_dir made before the refusal: %v", err)
	}
}

// A data_dir that exists and belongs to someone else is refused with the
// command that fixes it.
func TestServeRefusesDataDirOfAnotherUser(t *testing.T) {
	nobody(t)
	in := newInstance(t, "[server]\nuser = \"nobody\"\n")
	openUp(t, in)
	if err := os.Mkdir(in.dataDir, 0o700); err != nil { // root's
		t.Fatal(err)
	}
	_, errOut, code := in.run("", "serve", "--config", in.config)
	want := "belongs to uid 0, not to nobody"
	if code != exitError || !strings.Contains(errOut, want) || !strings.Contains(errOut, "chown -R nobody: "+in.dataDir) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// A data_dir the user cannot reach (a directory above it is 0700 root's)
// stops the start with the directory and the fix, not with "permission
// denied" from the store after the switch.
func TestServeRefusesDataDirOutOfReach(t *testing.T) {
	nobody(t)
	in := newInstance(t, "[server]\nuser = \"nobody\"\n")
	// in.dir stays 0700 root's; the config is readable.
	if err := os.Chmod(in.config, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := in.run("", "serve", "--config", in.config)
	want := "data_dir " + in.dataDir + " is out of reach of nobody, who runs the server: "
	if code != exitError || !strings.Contains(errOut, want) || !strings.Contains(errOut, "chmod o+x ") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(in.dataDir); !os.IsNotExist(err) {
		t.Errorf("data_dir made before the refusal: %v", err)
	}
	// config check says the same before anything runs.
	_, errOut, code = in.run("", "config", "check", "--config", in.config)
	if code != exitError || !strings.Contains(errOut, want) {
		t.Errorf("config check: exit %d: %s", code, errOut)
	}
}

// The certificate is read after the switch: a key only root may read
// stops the start with a message that says so (a renewal would fail the
// same way later, unnoticed).
func TestServeCertNotReadableByUser(t *testing.T) {
	nobody(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	writeCert(t, certFile, keyFile, "root-only") // 0600, root's
	os.Chmod(certFile, 0o644)
	in := newInstance(t, fmt.Sprintf("[server]\nuser = \"nobody\"\n[tls]\ncert_file = %q\nkey_file = %q\n", certFile, keyFile))
	openUp(t, in)
	_, errOut, code := in.run("", "serve", "--config", in.config)
	if code != exitError || !strings.Contains(errOut, "permission denied") || !strings.Contains(errOut, "read as user nobody, after the switch") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
