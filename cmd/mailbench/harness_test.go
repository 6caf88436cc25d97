package main

// A harness that builds the real mailsuite binary once, starts it as a
// child process with a config on ports picked here, and runs mailbench's
// workloads in-process against it with small counts.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/internal/testbin"
)

// mailsuiteBin is cmd/mailsuite, built once for the whole test run.
var mailsuiteBin = testbin.New("../mailsuite", "mailsuite")

func TestMain(m *testing.M) {
	code := m.Run()
	mailsuiteBin.Remove()
	os.Exit(code)
}

// mailsuiteBinary builds cmd/mailsuite once per test run.
func mailsuiteBinary(t *testing.T) string { return mailsuiteBin.Path(t) }

func freePort(t *testing.T) int { return testbin.FreePort(t) }

// server is one running `mailsuite serve`.
type server struct {
	t                  *testing.T
	bin, cfg, dataDir  string
	smtp, imap, pop3   int
	subs, imaps, pop3s int // implicit TLS: submissions, imaps, pop3s
	cmd                *exec.Cmd
	log                bytes.Buffer
	exited             chan error
}

var testUsers = []string{"bench", "bench10k", "benchmix", "benchidle"}

func startMailsuite(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, bin: mailsuiteBinary(t), smtp: freePort(t), imap: freePort(t), pop3: freePort(t),
		subs: freePort(t), imaps: freePort(t), pop3s: freePort(t)}
	dir := t.TempDir()
	s.dataDir = filepath.Join(dir, "data")
	s.cfg = filepath.Join(dir, "mailsuite.toml")
	cfg := fmt.Sprintf(`hostname = "mail.bench.test"
domains = ["bench.test"]
data_dir = %q
[listen]
smtp = "127.0.0.1:%d"
imap = "127.0.0.1:%d"
pop3 = "127.0.0.1:%d"
submissions = "127.0.0.1:%d"
imaps = "127.0.0.1:%d"
pop3s = "127.0.0.1:%d"
[auth]
allow_plaintext = true
[limits]
max_connections = 500
max_connections_per_ip = 500
[log]
level = "warn"
`, s.dataDir, s.smtp, s.imap, s.pop3, s.subs, s.imaps, s.pop3s)
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range testUsers {
		cmd := exec.Command(s.bin, "--config", s.cfg, "user", "add", u+"@bench.test")
		cmd.Stdin = strings.NewReader("benchpass\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("user add %s: %v\n%s", u, err, out)
		}
	}
	s.cmd = exec.Command(s.bin, "--config", s.cfg, "serve")
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range []int{s.smtp, s.imap, s.pop3, s.subs, s.imaps, s.pop3s} {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-s.exited:
				t.Fatalf("server exited: %v\n%s", err, s.log.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("port %d never opened", p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// serve binds its listeners before it makes the self-signed
	// certificate (it may drop privileges in between), so an open port
	// does not yet mean the certificate is there: wait for the greeting,
	// which comes only once the server serves.
	for {
		if testbin.SMTPGreeted("127.0.0.1:" + strconv.Itoa(s.smtp)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMTP greeting on port %d\n%s", s.smtp, s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// maildir is the INBOX of user on disk.
func (s *server) maildir(user string) string {
	return filepath.Join(s.dataDir, "mail", "bench.test", user)
}

// outcome is one mailbench run: its figures, exit status and stderr.
type outcome struct {
	figs   map[string]string
	units  map[string]string
	code   int
	stderr string
}

// bench runs mailbench in-process against s as user.
func (s *server) bench(user string, args ...string) outcome {
	s.t.Helper()
	base := []string{
		"-smtp-port", strconv.Itoa(s.smtp), "-imap-port", strconv.Itoa(s.imap), "-pop3-port", strconv.Itoa(s.pop3),
		"-user", user + "@bench.test", "-timeout", "2m",
	}
	return runBench(s.t, append(base, args...)...)
}

func runBench(t *testing.T, args ...string) outcome {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	o := outcome{figs: map[string]string{}, units: map[string]string{}, code: code, stderr: stderr.String()}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("output line %q is not \"name value unit\"", line)
		}
		if _, dup := o.figs[f[0]]; dup {
			t.Fatalf("figure %s printed twice", f[0])
		}
		if _, err := strconv.ParseFloat(f[1], 64); err != nil {
			t.Fatalf("output line %q: value is not a number", line)
		}
		o.figs[f[0]], o.units[f[0]] = f[1], f[2]
	}
	return o
}

// ok fails the test unless the run exited 0.
func (o outcome) ok(t *testing.T) outcome {
	t.Helper()
	if o.code != 0 {
		t.Fatalf("mailbench exit %d\n%s", o.code, o.stderr)
	}
	return o
}

// want checks that figure name was printed with exactly value v.
func (o outcome) want(t *testing.T, name string, v int64) {
	t.Helper()
	got, ok := o.figs[name]
	if !ok {
		t.Errorf("figure %s missing; have %v", name, o.figs)
		return
	}
	if got != strconv.FormatInt(v, 10) {
		t.Errorf("%s = %s, want %d", name, got, v)
	}
}

// positive checks that figure name was printed, in unit, and is > 0.
func (o outcome) positive(t *testing.T, name, unit string) float64 {
	t.Helper()
	got, ok := o.figs[name]
	if !ok {
		t.Errorf("figure %s missing; have %v", name, o.figs)
		return 0
	}
	if o.units[name] != unit {
		t.Errorf("%s unit %q, want %q", name, o.units[name], unit)
	}
	v, _ := strconv.ParseFloat(got, 64)
	if v <= 0 {
		t.Errorf("%s = %s, want > 0", name, got)
	}
	return v
}
