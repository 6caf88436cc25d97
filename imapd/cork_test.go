package imapd

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// countingListener counts the writes made to its connections.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A command's many response lines go out in a few writes, not one per
// line; APPEND's continuation request still reaches the client while the
// command waits for the literal. (TestImplicitTLS shows that implicit TLS
// under the cork is still known as TLS.)
func TestCorkedResponses(t *testing.T) {
	var writes atomic.Int64
	e := startEnv(t, envConfig{wrap: func(ln net.Listener) net.Listener {
		return countingListener{ln, &writes}
	}})
	for i := 0; i < 300; i++ {
		e.deliver(simple(fmt.Sprintf("m%d", i), "x\r\n"))
	}
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	before := writes.Load()
	if u := r.ok("f", "FETCH 1:* (UID FLAGS RFC822.SIZE)"); len(u) != 300 {
		t.Fatalf("%d responses", len(u))
	}
	if n := writes.Load() - before; n > 10 {
		t.Errorf("300 FETCH responses took %d writes", n)
	}
	msg := simple("appended", "y\r\n")
	r.send(fmt.Sprintf("a APPEND INBOX {%d}", len(msg)))
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND continuation: %q", l)
	}
	r.send(msg)
	if _, tag := r.until("a"); !strings.HasPrefix(tag, "a OK") {
		t.Fatalf("APPEND: %q", tag)
	}
}

// Two sessions share the store's message list until one of them changes
// its view; neither sees the other's view change under it.
func TestSharedViewCopiedOnChange(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "x\r\n"), simple("b", "y\r\n"))
	r1, r2 := e.rawLogin(), e.rawLogin()
	r1.ok("s", "SELECT INBOX")
	r2.ok("s", "SELECT INBOX")
	r1.ok("f", `STORE 1 +FLAGS.SILENT (\Flagged)`)
	e.deliver(simple("c", "z\r\n"))
	// r2 hears of both changes; r1 only of the delivery.
	u := r2.ok("n", "NOOP")
	if strings.Join(u, "|") != `* 3 EXISTS|* 1 FETCH (UID 1 FLAGS (\Flagged))` {
		t.Fatalf("r2: %q", u)
	}
	if u := r1.ok("n", "NOOP"); strings.Join(u, "|") != "* 3 EXISTS" {
		t.Fatalf("r1: %q", u)
	}
	for _, r := range []*raw{r1, r2} {
		if u := r.ok("f", "FETCH 1:* (UID FLAGS)"); strings.Join(u, "|") !=
			`* 1 FETCH (UID 1 FLAGS (\Flagged))|* 2 FETCH (UID 2 FLAGS ())|* 3 FETCH (UID 3 FLAGS ())` {
			t.Fatalf("%q", u)
		}
	}
	// A third session selecting now gets the store's shared list.
	r3 := e.rawLogin()
	if u := r3.ok("s", "SELECT INBOX"); !strings.Contains(strings.Join(u, "|"), "* 3 EXISTS") {
		t.Fatalf("r3: %q", u)
	}
}
