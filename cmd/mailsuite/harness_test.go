package main

// A harness that builds the real mailsuite binary once, writes a config with
// ports picked here, and runs `mailsuite serve` as a child process, so that
// the end-to-end tests exercise exactly what a user runs: flags, config
// loading, signals, the TLS certificate made on first start.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/internal/testbin"
)

// mailsuiteBin is cmd/mailsuite, built once for the whole test run.
var mailsuiteBin = testbin.New(".", "mailsuite")

func TestMain(m *testing.M) {
	code := m.Run()
	mailsuiteBin.Remove()
	os.Exit(code)
}

// binary builds cmd/mailsuite once per test run and returns its path.
func binary(t *testing.T) string { return mailsuiteBin.Path(t) }

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	return "127.0.0.1:" + strconv.Itoa(testbin.FreePort(t))
}

// syncBuffer collects a child's stderr for assertions while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// instance is one running `mailsuite serve`.
type instance struct {
	t       *testing.T
	bin     string
	dir     string
	config  string
	dataDir string
	addr    map[string]string // [listen] key -> address
	cmd     *exec.Cmd
	log     *syncBuffer
	exited  chan error
}

var listenKeys = []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"}

// newInstance writes a config (extra TOML is appended) and adds no users.
func newInstance(t *testing.T, extra string) *instance {
	t.Helper()
	in := &instance{t: t, bin: binary(t), dir: t.TempDir(), addr: map[string]string{}}
	in.dataDir = filepath.Join(in.dir, "data")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "hostname = %q\ndomains = [\"example.org\", \"Example.NET\"]\ndata_dir = %q\n", "mail.example.org", in.dataDir)
	cfg.WriteString(extra)
	cfg.WriteString("\n[listen]\n")
	for _, k := range listenKeys {
		in.addr[k] = freePort(t)
		fmt.Fprintf(&cfg, "%s = %q\n", k, in.addr[k])
	}
	in.config = filepath.Join(in.dir, "mailsuite.toml")
	if err := os.WriteFile(in.config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return in
}

// run runs a sub-command of the binary with the given stdin and returns
// its stdout, stderr and exit code.
func (in *instance) run(stdin string, args ...string) (string, string, int) {
	in.t.Helper()
	cmd := exec.Command(in.bin, args...)
	cmd.Dir = in.dir
	cmd.Env = append(os.Environ(), "MAILSUITE_CONFIG=")
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// mustRun is run that fails the test on a non-zero exit.
func (in *instance) mustRun(stdin string, args ...string) string {
	in.t.Helper()
	out, errOut, code := in.run(stdin, args...)
	if code != 0 {
		in.t.Fatalf("mailsuite %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// addUser adds a user through the command line, --config after the name.
func (in *instance) addUser(address, password string) {
	in.t.Helper()
	in.mustRun(password+"\n", "user", "add", address, "--config", in.config)
}

// start runs `mailsuite --config F serve` and waits until every listener
// accepts connections.
func (in *instance) start() {
	t := in.t
	t.Helper()
	in.log = &syncBuffer{}
	in.cmd = exec.Command(in.bin, "--config", in.config, "serve")
	in.cmd.Dir = in.dir
	in.cmd.Stdout = in.log
	in.cmd.Stderr = in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.exited = make(chan error, 1)
	go func() { in.exited <- in.cmd.Wait() }()
	t.Cleanup(func() {
		if in.cmd.ProcessState == nil {
			in.cmd.Process.Kill()
			<-in.exited
		}
		if t.Failed() {
			t.Logf("server log:\n%s", in.log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for _, k := range listenKeys {
		for {
			c, err := net.DialTimeout("tcp", in.addr[k], time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-in.exited:
				t.Fatalf("server exited before listening: %v\n%s", err, in.log.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("listener %s (%s) never opened\n%s", k, in.addr[k], in.log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// serve binds its listeners before it reads or makes the
	// certificate and opens the store, so an open port does not yet mean
	// it serves: wait for the SMTP greeting.
	for !testbin.SMTPGreeted(in.addr["smtp"]) {
		if time.Now().After(deadline) {
			t.Fatalf("no SMTP greeting on %s\n%s", in.addr["smtp"], in.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig to the server.
func (in *instance) signal(sig syscall.Signal) {
	in.t.Helper()
	if err := in.cmd.Process.Signal(sig); err != nil {
		in.t.Fatal(err)
	}
}

// stop sends SIGTERM and returns the exit error once the server is gone.
func (in *instance) stop() error {
	in.t.Helper()
	in.signal(syscall.SIGTERM)
	select {
	case err := <-in.exited:
		return err
	case <-time.After(30 * time.Second):
		in.t.Fatal("server did not stop within 30s of SIGTERM")
		return nil
	}
}

// waitLog waits until the server's log contains s.
func (in *instance) waitLog(s string) {
	in.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(in.log.String(), s) {
		if time.Now().After(deadline) {
			in.t.Fatalf("server log never showed %q:\n%s", s, in.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// certFile is the self-signed certificate the server made on first start.
func (in *instance) certFile() string { return filepath.Join(in.dataDir, "tls", "cert.pem") }

// tlsConfig trusts exactly the server's self-signed certificate.
func (in *instance) tlsConfig() *tls.Config {
	in.t.Helper()
	pem, err := os.ReadFile(in.certFile())
	if err != nil {
		in.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		in.t.Fatal("no certificate in " + in.certFile())
	}
	return &tls.Config{RootCAs: pool, ServerName: "mail.example.org"}
}

// maildirFiles lists the message files in a user's folder (cur and new).
func (in *instance) maildirFiles(user, folder string) []string {
	in.t.Helper()
	local, domain, _ := strings.Cut(user, "@")
	dir := filepath.Join(in.dataDir, "mail", domain, local)
	if folder != "" {
		dir = filepath.Join(dir, "."+folder)
	}
	var files []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			in.t.Fatal(err)
		}
		for _, e := range ents {
			files = append(files, filepath.Join(dir, sub, e.Name()))
		}
	}
	return files
}
