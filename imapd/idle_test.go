package imapd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
)

// idleOn logs in, selects INBOX (if folder is set) and starts IDLE.
func idleOn(t *testing.T, e *env, selectInbox bool) *raw {
	t.Helper()
	r := e.rawLogin()
	if selectInbox {
		r.ok("s", "SELECT INBOX")
	}
	r.send("i IDLE")
	if l := r.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	return r
}

// silent checks that nothing arrives on r for d.
func silent(t *testing.T, r *raw, d time.Duration) {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(d))
	l, err := r.r.ReadString('\n')
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %q (%v), want nothing", l, err)
	}
	r.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
}

// Files another program puts into the Maildir reach a client in IDLE
// within IdlePoll, again and again, with the store's own watcher off.
func TestIdleHearsOutsideFiles(t *testing.T) {
	e := startEnv(t, envConfig{
		edit:  func(o *Options) { o.IdlePoll = 50 * time.Millisecond },
		store: func(o *mailbox.Options) { o.PollInterval = -1 },
	})
	r := idleOn(t, e, true)
	newDir := filepath.Join(e.dir, "mail", "example.org", "alice", "new")
	for i := 1; i <= 2; i++ {
		// Not at once: the store's notification of file 1 makes one
		// more poll, which must be over before file 2 comes.
		time.Sleep(150 * time.Millisecond)
		name := filepath.Join(newDir, fmt.Sprintf("170000000%d.M%dP1.outside", i, i))
		if err := os.WriteFile(name, []byte(simple(fmt.Sprint(i), "x\r\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if l := r.line(); l != fmt.Sprintf("* %d EXISTS", i) {
			t.Fatalf("after outside file %d: %q", i, l)
		}
	}
	r.send("DONE")
	if u, tagged := r.until("i"); len(u) != 0 || tagged != "i OK IDLE completed" {
		t.Fatalf("DONE: %q %q", u, tagged)
	}
}

// A line other than DONE ends IDLE with BAD: nothing is announced after
// it until the next command, which tells what happened meanwhile.
func TestIdleEndsAtAnyLine(t *testing.T) {
	e := newEnv(t, nil)
	r := idleOn(t, e, true)
	r.send("XYZZY")
	if l := r.line(); !strings.HasPrefix(l, "i BAD ") {
		t.Fatalf("after a line that is not DONE: %q", l)
	}
	e.deliver(simple("a", "1\r\n"))
	silent(t, r, 300*time.Millisecond)
	if u := r.ok("n", "NOOP"); len(u) != 1 || u[0] != "* 1 EXISTS" {
		t.Fatalf("NOOP after IDLE ended: %q", u)
	}
}

// IDLE without a selected folder (RFC 2177 allows it in the authenticated
// state) tells nothing and ends at DONE.
func TestIdleNotSelected(t *testing.T) {
	e := newEnv(t, nil)
	r := idleOn(t, e, false)
	e.deliver(simple("a", "1\r\n"))
	silent(t, r, 200*time.Millisecond)
	r.send("DONE")
	if u, tagged := r.until("i"); len(u) != 0 || tagged != "i OK IDLE completed" {
		t.Fatalf("DONE: %q %q", u, tagged)
	}
}

// The autologout timer runs during IDLE.
func TestIdleAutologout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 200 * time.Millisecond })
	r := idleOn(t, e, true)
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l := r.line(); l != "* BYE Autologout; idle for too long" {
		t.Fatalf("got %q", l)
	}
	r.expectClosed()
}

// Sessions that go away while deliveries wake them (run with -race):
// every session ends and releases its folder.
func TestIdleCloseWhileWoken(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConnsPerIP = -1 })
	const n = 20
	idlers := make([]*raw, n)
	for i := range idlers {
		idlers[i] = idleOn(t, e, true)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 10; i++ {
			e.deliver(simple(fmt.Sprint(i), "x\r\n"))
		}
	}()
	for i, r := range idlers {
		if i%2 == 0 {
			r.send("DONE")
		}
		r.conn.Close()
	}
	wg.Wait()
	e.waitLog("session end", n)
}
