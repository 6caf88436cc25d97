package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every workload, briefly, against a spawned mailsuite: the figures are
// printed, and every count the tool can know exactly is the right one.
// No figure of speed is asserted.

func TestSMTPWorkloads(t *testing.T) {
	s := startMailsuite(t)
	const n, size = 24, 3000

	// Store check in the Maildir, then over IMAP (no -maildir).
	o := s.bench("bench", "-n", strconv.Itoa(n), "-c", "3", "-size", strconv.Itoa(size), "-maildir", s.maildir("bench"), "smtp1", "smtpn").ok(t)
	for _, wl := range []string{"smtp1", "smtpn"} {
		o.want(t, wl+"_accepted", n)
		o.want(t, wl+"_errors", 0)
		o.want(t, wl+"_stored", n)
		o.want(t, wl+"_missing", 0)
		o.positive(t, wl+"_msgs_per_s", "msg/s")
		o.positive(t, wl+"_mb_per_s", "MB/s")
		o.positive(t, wl+"_stored_msgs_per_s", "msg/s")
		o.positive(t, wl+"_p99_ms", "ms")
	}
	o = s.bench("bench", "-n", "10", "-c", "2", "-per-conn", "3", "-size", strconv.Itoa(size), "-tag", "imapcheck", "smtpn").ok(t)
	o.want(t, "smtpn-imapcheck_stored", 10)
	o.want(t, "smtpn-imapcheck_missing", 0)

	// The messages are on disk, whole: each file ends with the body that
	// was sent (LF line ends on disk), and each seq is there once per run
	// (seqs below 10 three times: the third run sent 10).
	g := newGenerator("mailbench@example.net", "bench@bench.test")
	wantBody := string(toLF(appendBody(nil, 1, size-len(g.header(nil, 0)))))
	files, err := maildirFiles(s.maildir("bench"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2*n+10 {
		t.Fatalf("%d files in the Maildir, want %d", len(files), 2*n+10)
	}
	perSeq := map[int]int{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(b), "\n\n"+wantBody) {
			t.Fatalf("%s does not end with the body sent", path)
		}
		perSeq[headerSeq(b)]++
	}
	for seq := 0; seq < n; seq++ {
		want := 2
		if seq < 10 {
			want = 3
		}
		if perSeq[seq] != want {
			t.Fatalf("seq %d stored %d times, want %d", seq, perSeq[seq], want)
		}
	}
}

// A store check that cannot find the messages says so and fails the run:
// pointed at the wrong Maildir, every accepted message is missing.
func TestSMTPStoreCheckCatchesMissing(t *testing.T) {
	s := startMailsuite(t)
	wrong := t.TempDir()
	o := s.bench("bench", "-n", "5", "-c", "1", "-maildir", wrong, "-store-wait", "300ms", "smtpn")
	if o.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", o.code, o.stderr)
	}
	o.want(t, "smtpn_accepted", 5)
	o.want(t, "smtpn_stored", 0)
	o.want(t, "smtpn_missing", 5)
	if _, ok := o.figs["smtpn_stored_msgs_per_s"]; ok {
		t.Error("a stored rate was printed for messages that were not found")
	}
	if !strings.Contains(o.stderr, "5 accepted messages not in the store") {
		t.Errorf("stderr does not explain: %q", o.stderr)
	}

	// Every message refused (an unknown recipient: 550 at RCPT): each is
	// an error, nothing is looked for in the store, and the run fails.
	for _, check := range [][]string{{"-maildir", s.maildir("bench")}, nil} {
		args := append([]string{"-n", "3", "-c", "1", "-rcpt", "nobody@bench.test"}, check...)
		o = s.bench("bench", append(args, "smtp1")...)
		if o.code != 1 || !strings.Contains(o.stderr, "3 of 3 messages not accepted") {
			t.Fatalf("exit %d, stderr %q", o.code, o.stderr)
		}
		o.want(t, "smtp1_accepted", 0)
		o.want(t, "smtp1_errors", 3)
		o.want(t, "smtp1_missing", 0)
	}
}

func TestIMAPAndPOP3Workloads(t *testing.T) {
	s := startMailsuite(t)
	const n, size = 300, 2048
	unseen, hdr, body := countSeqs(n, func(i int) bool { return !seenAt(i) }), countSeqs(n, headerHitAt), countSeqs(n, bodyHitAt)

	// Two ways to fill: APPEND into one user, files into another.
	a := s.bench("bench", "-n", strconv.Itoa(n), "-c", "3", "-size", strconv.Itoa(size), "append").ok(t)
	a.want(t, "append_appended", n)
	a.want(t, "append_errors", 0)
	a.positive(t, "append_msgs_per_s", "msg/s")
	f := s.bench("bench10k", "-n", strconv.Itoa(n), "-c", "2", "-size", strconv.Itoa(size), "-maildir", s.maildir("bench10k"), "fill-maildir").ok(t)
	f.want(t, "fill-maildir_written", n)
	checkFilled(t, s.maildir("bench10k"), n, size)

	for _, user := range []string{"bench", "bench10k"} {
		t.Run(user, func(t *testing.T) {
			o := s.bench(user, "-repeat", "2", "select-first", "select", "fetch", "search", "pop3").ok(t)
			o.want(t, "select-first_msgs", n)
			o.positive(t, "select-first_ms", "ms")
			o.want(t, "select_msgs", n)
			o.positive(t, "select_ms", "ms")
			o.positive(t, "select_login_ms", "ms")
			o.positive(t, "select-first_login_ms", "ms")
			o.want(t, "fetch_msgs", n)
			o.want(t, "fetch_bytes", n*size)
			o.positive(t, "fetch_mb_per_s", "MB/s")
			o.want(t, "search_unseen_hits", int64(unseen))
			o.want(t, "search_header_hits", int64(hdr))
			o.want(t, "search_body_hits", int64(body))
			o.positive(t, "search_body_ms", "ms")
			o.want(t, "pop3_msgs", n)
			o.want(t, "pop3_bytes", n*size)
			o.positive(t, "pop3_mb_per_s", "MB/s")
		})
	}

	// EXPUNGE of the last 100, then the folder holds the rest; the
	// search hits among the remaining first n-100 are as predicted.
	e := s.bench("bench10k", "-expunge-n", "100", "expunge").ok(t)
	e.want(t, "expunge_msgs", 100)
	e.positive(t, "expunge_ms", "ms")
	after := s.bench("bench10k", "-repeat", "1", "select").ok(t)
	after.want(t, "select_msgs", n-100)

	// Asking to expunge more than the folder holds is a failed check, and
	// nothing is expunged.
	big := s.bench("bench10k", "-expunge-n", "100000", "expunge")
	if big.code != 1 || !strings.Contains(big.stderr, "fewer than the 100000") {
		t.Fatalf("exit %d, stderr %q", big.code, big.stderr)
	}
	s.bench("bench10k", "-repeat", "1", "select").ok(t).want(t, "select_msgs", n-100)
}

// checkFilled reads the files fill-maildir wrote: n of them in cur/, LF
// line ends, S= the size on disk and W= the size with CRLF, \Seen as
// seenAt says.
func checkFilled(t *testing.T, dir string, n, size int) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "cur"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n {
		t.Fatalf("%d files in cur/, want %d", len(ents), n)
	}
	seen := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, "cur", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\r") {
			t.Fatalf("%s has CR in it", e.Name())
		}
		lines := strings.Count(string(b), "\n")
		wantName := ",S=" + strconv.Itoa(len(b)) + ",W=" + strconv.Itoa(len(b)+lines) + ":2,"
		if !strings.Contains(e.Name(), wantName) {
			t.Fatalf("%s: want %s in the name", e.Name(), wantName)
		}
		if len(b)+lines != size {
			t.Fatalf("%s: %d octets with CRLF, want %d", e.Name(), len(b)+lines, size)
		}
		if strings.HasSuffix(e.Name(), ":2,S") {
			seen++
		}
	}
	if want := countSeqs(n, seenAt); seen != want {
		t.Fatalf("%d files flagged S, want %d", seen, want)
	}
}

func TestMixedWorkload(t *testing.T) {
	s := startMailsuite(t)
	s.bench("benchmix", "-n", "60", "-size", "1024", "-maildir", s.maildir("benchmix"), "fill-maildir").ok(t)
	o := s.bench("benchmix", "-c", "3", "-duration", "1s", "-n", "400", "-size", "1024", "mixed").ok(t)
	o.want(t, "mixed_errors", 0)
	cmds, _ := strconv.Atoi(o.figs["mixed_cmds"])
	if cmds < 1 || cmds > 400+2*3 { // a step begun is finished: two commands at most
		t.Errorf("mixed_cmds = %d, want 1..406", cmds)
	}
	o.positive(t, "mixed_cmds_per_s", "cmd/s")
	o.positive(t, "mixed_p99_ms", "ms")
	// Each client expunged what it appended: the folder is as before.
	s.bench("benchmix", "-repeat", "1", "select").ok(t).want(t, "select_msgs", 60)

	// An empty folder is a clear error, not a hang or a division by zero.
	e := s.bench("bench", "-c", "1", "-duration", "1s", "mixed")
	if e.code != 1 || !strings.Contains(e.stderr, "is empty") {
		t.Fatalf("exit %d, stderr %q", e.code, e.stderr)
	}
}

func TestIdleWorkload(t *testing.T) {
	s := startMailsuite(t)
	const n = 12
	o := s.bench("benchidle", "-pid", strconv.Itoa(s.cmd.Process.Pid), "-idle-n", strconv.Itoa(n), "-c", "4", "idle").ok(t)
	o.want(t, "idle_sessions", n)
	o.want(t, "idle_notified", n)
	o.want(t, "idle_server_procs", 1)
	for _, name := range []string{"idle_pss_kib_per_session", "idle_rss_kib_per_session", "idle_marginal_pss_kib_per_session"} {
		if o.units[name] != "KiB" {
			t.Errorf("%s: unit %q (have %v)", name, o.units[name], o.figs)
		}
	}
	o.positive(t, "idle_notify_max_ms", "ms")
	// The delivery is in the mailbox every session was watching.
	files, err := maildirFiles(s.maildir("benchidle"))
	if err != nil || len(files) != 1 {
		t.Fatalf("%d files in benchidle's INBOX (%v), want 1", len(files), err)
	}

	// Without -pid: the notice figures only.
	o = s.bench("benchidle", "-idle-n", "3", "-c", "3", "idle").ok(t)
	o.want(t, "idle_notified", 3)
	if _, ok := o.figs["idle_pss_kib_per_session"]; ok {
		t.Error("memory figures printed without -pid")
	}
}

func TestDiskWorkload(t *testing.T) {
	dir := t.TempDir()
	o := runBench(t, "-disk-dir", dir, "-n", "20", "-size", "1024", "-disk-writers", "1,3", "disk").ok(t)
	for _, w := range []string{"w1", "w3"} {
		o.positive(t, "disk_"+w+"_msgs_per_s", "msg/s")
		o.positive(t, "disk_"+w+"_mb_per_s", "MB/s")
	}
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 0 {
		t.Fatalf("scratch left behind: %v %v", left, err)
	}
}

func TestFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-host", "192.0.2.1", "select"}, 2, "not a loopback address"},
		{[]string{"-host", "example.org", "select"}, 2, "not a loopback address"},
		{[]string{"nosuch"}, 2, "unknown workload nosuch"},
		{[]string{}, 2, "no workload given"},
		{[]string{"-tls", "ssl", "select"}, 2, "-tls must be"},
		{[]string{"-size", "10", "smtp1"}, 2, "-size must be"},
		{[]string{"-disk-writers", "1,x", "disk"}, 2, "-disk-writers"},
		{[]string{"-smtp-proto", "lmtp", "-tls", "starttls", "-smtp-port", "1", "smtp1"}, 1, "not supported with -smtp-proto lmtp"},
		{[]string{"fill-maildir"}, 1, "needs -maildir"},
		{[]string{"disk"}, 1, "needs -disk-dir"},
	}
	for _, c := range cases {
		o := runBench(t, c.args...)
		if o.code != c.code || !strings.Contains(o.stderr, c.msg) {
			t.Errorf("mailbench %v: exit %d, stderr %q; want exit %d and %q", c.args, o.code, o.stderr, c.code, c.msg)
		}
	}
	// A closed port is an error of the workload, reported, exit 1.
	port := freePort(t)
	o := runBench(t, "-imap-port", strconv.Itoa(port), "-timeout", "5s", "select")
	if o.code != 1 || !strings.Contains(o.stderr, "select:") {
		t.Errorf("closed port: exit %d, stderr %q", o.code, o.stderr)
	}
}

// A server that accepts and then says nothing cannot hold a workload past
// -timeout: the connection is closed when the workload's time ends, even
// though the client libraries set deadlines of their own (minutes long).
func TestSilentServerBoundedByTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 silent.example ESMTP\r\n")) // then nothing more
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	done := make(chan outcome, 1)
	go func() {
		done <- runBench(t, "-smtp-port", port, "-imap-port", port, "-pop3-port", port, "-timeout", "500ms", "-n", "1", "-c", "1", "smtp1", "select", "pop3")
	}()
	select {
	case o := <-done:
		if o.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", o.code, o.stderr)
		}
		for _, wl := range []string{"select:", "pop3:"} {
			if !strings.Contains(o.stderr, wl) {
				t.Errorf("stderr lacks the %s failure: %q", wl, o.stderr)
			}
		}
	case <-time.After(time.Minute):
		t.Fatal("mailbench still running a minute after a 500ms -timeout")
	}
}

// The same workloads over TLS: STARTTLS on the plain ports (RFC 3207, RFC
// 9051 §6.2.1, RFC 2595 §4), and implicit TLS on submissions (with AUTH),
// imaps and pop3s (RFC 8314), the certificate verified against the one the
// server made.
func TestTLSModes(t *testing.T) {
	s := startMailsuite(t)
	ca := filepath.Join(s.dataDir, "tls", "cert.pem")
	verify := []string{"-tls-ca", ca, "-tls-name", "mail.bench.test"}
	o := s.bench("bench", append(verify, "-tls", "starttls", "-n", "6", "-c", "2", "-size", "1024", "smtp1", "append", "select", "pop3")...).ok(t)
	o.want(t, "smtp1_stored", 6)
	o.want(t, "append_appended", 6)
	o.want(t, "select_msgs", 12)
	o.want(t, "pop3_msgs", 12)

	args := append(verify, "-tls", "implicit", "-smtp-port", strconv.Itoa(s.subs), "-smtp-auth", "-from", "bench@bench.test",
		"-imap-port", strconv.Itoa(s.imaps), "-pop3-port", strconv.Itoa(s.pop3s), "-n", "4", "-c", "2", "-size", "1024", "smtpn", "select", "pop3")
	o = s.bench("bench", args...).ok(t)
	o.want(t, "smtpn_stored", 4)
	o.want(t, "select_msgs", 16)
	o.want(t, "pop3_msgs", 16)

	// A certificate for another name is refused when verifying.
	bad := s.bench("bench", "-tls-ca", ca, "-tls-name", "other.example", "-tls", "starttls", "select")
	if bad.code != 1 || !strings.Contains(bad.stderr, "certificate") {
		t.Fatalf("wrong name: exit %d, stderr %q", bad.code, bad.stderr)
	}
}
