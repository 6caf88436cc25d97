package main

// The outbound queue through the real binary: crash safety (SIGKILL with
// mail queued), the queue and dkim commands, online and offline.

import (
	"fmt"
	"io"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is a remote MX that accepts everything and remembers each
// message's Message-ID.
type sink struct {
	t    *testing.T
	srv  *smtp.Server
	mu   sync.Mutex
	ids  []string
	tail []string // envelope recipients
}

func newSink(t *testing.T, addr string) *sink {
	t.Helper()
	s := &sink{t: t}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "mx.remote.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct {
	s     *sink
	rcpts []string
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.rcpts = append(ss.rcpts, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, m.Body)
	ss.s.mu.Lock()
	ss.s.ids = append(ss.s.ids, m.Header.Get("Message-ID"))
	ss.s.tail = append(ss.s.tail, ss.rcpts...)
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        { ss.rcpts = nil }
func (ss *sinkSession) Logout() error { return nil }

func (s *sink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

func (s *sink) wait(n int) []string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(s.got()) < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("the remote has %d messages, want %d", len(s.got()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s.got()
}

// outboundInstance is a binary instance whose mail for remote.test goes
// to addr (a route), retried quickly.
func outboundInstance(t *testing.T, addr string) *instance {
	in := newInstance(t, fmt.Sprintf(`[outbound]
retry_min = "200ms"
retry_max = "400ms"
[outbound.routes]
"remote.test" = %q
`, addr))
	in.addUser("alice@example.org", "alice-pw")
	return in
}

func msgWithID(id string) []byte {
	return []byte("From: alice@example.org\r\nTo: r@remote.test\r\nSubject: " + id + "\r\nMessage-ID: <" + id + "@example.org>\r\n\r\nbody\r\n")
}

// Mail queued when the server is killed with SIGKILL is delivered after
// the restart, each message once; a message the remote already took is
// not sent again after a kill.
func TestQueueSurvivesSIGKILL(t *testing.T) {
	remote := freePort(t) // nothing listens there yet
	in := outboundInstance(t, remote)
	in.start()
	in.waitLog("mailsuite ready")
	for i := range 3 {
		submit(t, in, "alice@example.org", "alice-pw", "alice@example.org", []string{"r@remote.test"}, msgWithID(fmt.Sprint("m", i)))
	}
	in.waitLog("deferred=1")
	out := in.mustRun("", "--config", in.config, "queue", "list")
	if !strings.Contains(out, "3 message(s) in the queue") || !strings.Contains(out, "cannot connect to 127.0.0.1[127.0.0.1]") {
		t.Errorf("queue list while running:\n%s", out)
	}

	in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.exited

	// Offline: the queue is intact and the command line acts on it.
	out = in.mustRun("", "--config", in.config, "queue", "list")
	if !strings.Contains(out, "3 message(s) in the queue") {
		t.Fatalf("queue list after SIGKILL:\n%s", out)
	}
	if out := in.mustRun("", "--config", in.config, "queue", "retry"); out != "3 message(s) will be tried as soon as the server starts\n" {
		t.Errorf("queue retry offline: %q", out)
	}

	s := newSink(t, remote)
	in.start()
	got := s.wait(3)
	// One more: delivered, then the server is killed right away.
	submit(t, in, "alice@example.org", "alice-pw", "alice@example.org", []string{"r@remote.test"}, msgWithID("m3"))
	s.wait(4)
	in.waitLog("sent=1")
	in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.exited
	in.start()
	in.waitLog("mailsuite ready")
	time.Sleep(time.Second) // several retry periods: room for a wrong resend
	got = s.got()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for i := range 4 {
		if id := fmt.Sprintf("<m%d@example.org>", i); seen[id] != 1 {
			t.Errorf("%s delivered %d times, want once (all: %q)", id, seen[id], got)
		}
	}
	if out := in.mustRun("", "--config", in.config, "queue", "list"); out != "The queue is empty.\n" {
		t.Errorf("queue list at the end:\n%s", out)
	}
}

// queue show, retry and delete against a running server, and their
// errors.
func TestQueueCommands(t *testing.T) {
	remote := freePort(t)
	in := outboundInstance(t, remote)
	in.start()
	in.waitLog("mailsuite ready")
	submit(t, in, "alice@example.org", "alice-pw", "alice@example.org", []string{"r@remote.test", "s@remote.test"}, msgWithID("keep"))
	submit(t, in, "alice@example.org", "alice-pw", "alice@example.org", []string{"r@remote.test"}, msgWithID("drop"))
	in.waitLog("deferred=1")
	list := in.mustRun("", "--config", in.config, "queue", "list")
	ids := regexp.MustCompile(`(?m)^([A-Z2-7]{16}) +alice@example.org +(\S+) +(\d+) `).FindAllStringSubmatch(list, -1)
	if len(ids) != 2 || ids[0][2] != "r@remote.test,s@remote.test" || ids[1][2] != "r@remote.test" {
		t.Fatalf("queue list:\n%s", list)
	}
	if !strings.HasPrefix(list, "ID  ") || !strings.Contains(list, "LAST ERROR") {
		t.Errorf("no heading:\n%s", list)
	}
	keep, drop := ids[0][1], ids[1][1]

	show := in.mustRun("", "--config", in.config, "queue", "show", strings.ToLower(keep))
	for _, want := range []string{"id:        " + keep + "\n", "sender:    alice@example.org\n", "user:      alice@example.org\n",
		"recipient: r@remote.test\n", "recipient: s@remote.test\n", "  status:   queued\n", "  error:    cannot connect to 127.0.0.1[127.0.0.1]",
		"header:\n", "Message-ID: <keep@example.org>\n"} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show lacks %q:\n%s", want, show)
		}
	}
	if out := in.mustRun("", "--config", in.config, "queue", "delete", drop); out != "deleted "+drop+"\n" {
		t.Errorf("delete: %q", out)
	}
	_, errOut, code := in.run("", "--config", in.config, "queue", "show", drop)
	if code != 1 || errOut != "mailsuite: "+drop+" is not in the queue\n" {
		t.Errorf("show of a deleted id: exit %d %q", code, errOut)
	}
	_, errOut, code = in.run("", "--config", in.config, "queue", "delete", drop)
	if code != 1 || errOut != "mailsuite: "+drop+" is not in the queue\n" {
		t.Errorf("second delete: exit %d %q", code, errOut)
	}
	if out := in.mustRun("", "--config", in.config, "queue", "retry", keep); out != "1 message(s) will be tried now\n" {
		t.Errorf("retry: %q", out)
	}
	s := newSink(t, remote)
	if got := s.wait(1); len(got) != 1 || got[0] != "<keep@example.org>" {
		t.Errorf("delivered %q", got)
	}
	time.Sleep(500 * time.Millisecond)
	if got := s.got(); len(got) != 1 {
		t.Errorf("the deleted message went out too: %q", got)
	}
	in.waitLog(`msg="queue request" component=queue request=delete target=` + drop)

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"queue"}, "mailsuite: queue needs a sub-command: delete, list, retry, show"},
		{[]string{"queue", "show"}, "mailsuite: queue show needs a queue ID (see mailsuite queue list)"},
		{[]string{"queue", "delete", "all"}, "mailsuite: queue delete takes one queue id (deleting everything at once is not offered)"},
		{[]string{"queue", "retry", "a", "b"}, `mailsuite: too many arguments for queue retry: "b"`},
		{[]string{"dkim"}, "mailsuite: dkim needs a sub-command: keygen"},
		{[]string{"dkim", "keygen"}, "mailsuite: dkim keygen needs a DOMAIN"},
		{[]string{"dkim", "keygen", "other.test"}, "mailsuite: other.test is not one of this server's domains (example.org, Example.NET); only their mail is signed"},
	} {
		_, errOut, code := in.run("", append([]string{"--config", in.config}, tc.args...)...)
		if code != 2 || errOut != tc.err+"; run 'mailsuite help' for usage\n" {
			t.Errorf("%v: exit %d, %q", tc.args, code, errOut)
		}
	}
}

// dkim keygen writes the keys and prints the records; the server signs
// after SIGHUP; a second keygen for the domain is refused.
func TestDKIMKeygenCommand(t *testing.T) {
	remote := freePort(t)
	s := newSink(t, remote)
	in := outboundInstance(t, remote)
	in.start()
	in.waitLog("mailsuite ready")
	out := in.mustRun("", "--config", in.config, "dkim", "keygen", "Example.ORG")
	date := time.Now().UTC().Format("20060102")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || lines[0] != "DKIM keys for example.org written to "+in.dataDir+"/dkim/example.org" ||
		!strings.HasPrefix(lines[3], "ms"+date+"e._domainkey.example.org. IN TXT ( \"v=DKIM1; k=ed25519; p=") ||
		!strings.HasPrefix(lines[4], "ms"+date+"r._domainkey.example.org. IN TXT ( \"v=DKIM1; k=rsa; p=") {
		t.Fatalf("keygen output:\n%s", out)
	}
	_, errOut, code := in.run("", "--config", in.config, "dkim", "keygen", "example.org")
	if code != 1 || !strings.Contains(errOut, "DKIM keys exist already for example.org") {
		t.Errorf("second keygen: exit %d %q", code, errOut)
	}
	in.signal(syscall.SIGHUP)
	in.waitLog(`msg="dkim signing on" component=queue domain=example.org`)
	submit(t, in, "alice@example.org", "alice-pw", "alice@example.org", []string{"r@remote.test"}, msgWithID("signed"))
	s.wait(1)
	in.waitLog(`rcpts=1 size=`)
	if !regexp.MustCompile(`msg=queued component=queue id=\S+ from=alice@example.org rcpts=1 size=\d+ dkim=2`).MatchString(in.log.String()) {
		t.Errorf("not signed twice:\n%s", in.log.String())
	}
}
