package imapd

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RFC 9051 §6.2.1 and RFC 2595 §3.1: the client must discard cached
// server data after STARTTLS, and the server must not act on anything the
// client sent in the clear after the command (the STARTTLS command
// injection class). A LOGIN pipelined in the same write as STARTTLS must
// never be answered OK; closing the connection is an acceptable outcome.
func TestStartTLSDiscardsPipelinedInput(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowPlaintext = false; o.TLSConfig = selfSigned(t) })
	r := e.raw()
	injected := "b LOGIN " + testUser + ` "` + testPassword + `"` + "\r\n"
	if _, err := r.conn.Write([]byte("a STARTTLS\r\n" + injected)); err != nil {
		t.Fatal(err)
	}
	if l := r.line(); !strings.HasPrefix(l, "a OK ") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		// The library fed the injected octets to the TLS server as the
		// start of the handshake, which failed: nothing ran.
		t.Logf("handshake after pipelined input failed (acceptable): %v", err)
	} else {
		// The handshake succeeded: the injected command must be gone.
		br := bufio.NewReader(tc)
		if _, err := tc.Write([]byte("c NOOP\r\n")); err != nil {
			t.Fatal(err)
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				break // closed: acceptable
			}
			if strings.HasPrefix(l, "b ") {
				t.Fatalf("the injected LOGIN was answered after TLS: %q", l)
			}
			if strings.HasPrefix(l, "c ") {
				break
			}
		}
	}
	// Neither after TLS nor in the clear: no login, and no refusal either.
	if n := len(e.logs.find("login")) + len(e.logs.find("login refused: no TLS")); n != 0 {
		t.Errorf("the injected LOGIN ran: %d login records", n)
	}
	// The server still serves a client that does STARTTLS properly.
	r2 := e.raw()
	r2.send("x STARTTLS")
	if l := r2.line(); !strings.HasPrefix(l, "x OK ") {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc2 := tls.Client(r2.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc2.Handshake(); err != nil {
		t.Fatalf("clean STARTTLS: %v", err)
	}
	r2.conn, r2.r = tc2, bufio.NewReader(tc2)
	r2.ok("y", "LOGIN "+testUser+` "`+testPassword+`"`)
}

// dripUntilClosed writes one octet every interval (never a CRLF) and
// returns how long the server took to close the connection, failing after
// limit.
func dripUntilClosed(t *testing.T, c net.Conn, interval, limit time.Duration) time.Duration {
	t.Helper()
	c.SetDeadline(time.Now().Add(limit + 5*time.Second))
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-tick.C:
		}
		if time.Since(start) > limit {
			t.Fatalf("slow-drip client still connected after %v", time.Since(start))
		}
		c.Write([]byte{"x NOOP abcdefgh"[i%15]})
	}
}

// Slow drip after login: the autologout timer (Options.IdleTimeout, RFC
// 9051 §5.4) runs between commands and is not reset by a command line
// that never ends, so a client dripping octets is logged out after about
// IdleTimeout.
func TestSlowDripAfterLoginDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	r := e.rawLogin()
	d := dripUntilClosed(t, r.conn, 50*time.Millisecond, 10*time.Second)
	t.Logf("dropped %v after login (IdleTimeout 300ms)", d)
	e.waitLog("autologout", 1)
}

// Slow drip before login: Options.LoginTimeout closes a connection that
// has not logged in that long after connecting, whatever its pace (the
// library's own 30 s command deadline is renewed after each parse error,
// so it alone does not bound a drip).
func TestSlowDripBeforeLoginDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.LoginTimeout = 2 * time.Second })
	r := e.raw()
	d := dripUntilClosed(t, r.conn, 200*time.Millisecond, 20*time.Second)
	t.Logf("dropped %v before login (LoginTimeout 2s)", d)
	if n := len(e.waitLog("no login in time; closing", 1)); n != 1 {
		t.Errorf("%d 'no login in time' log lines, want 1", n)
	}
	if n := len(e.logs.find("login")); n != 0 {
		t.Errorf("a login was logged")
	}
}

// Issue 5 point 6: with 1,000 idle connections held open (greeted, never
// a command), a legitimate client still connects and logs in. The per-IP
// cap is lifted (MaxConnsPerIP 2000) since every connection comes from
// 127.0.0.1.
func TestLoginWhileThousandIdleConnections(t *testing.T) {
	const idle = 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	const need = 2*idle + 200 // both ends are in this process
	if lim.Cur < need {
		want := lim
		want.Cur = min(uint64(need), lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil || want.Cur < need {
			t.Skipf("RLIMIT_NOFILE %d (max %d) is below the %d this test needs: %v", lim.Cur, lim.Max, need, err)
		}
	}
	e := newEnv(t, func(o *Options) { o.MaxConnsPerIP = 2 * idle })
	e.deliver(simple("hello", "still reachable\r\n"))
	conns := make([]net.Conn, 0, idle)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < idle; i++ {
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Every idle connection was accepted and greeted (none refused by a cap).
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "* OK ") {
			t.Fatalf("idle connection %d: greeting %q, %v", i, l, err)
		}
	}
	c := e.login()
	data, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("SELECT with %d idle connections: %v", idle, err)
	}
	if data.NumMessages != 1 {
		t.Errorf("INBOX has %d messages, want 1", data.NumMessages)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
}

// deepMultipart builds a message whose multipart parts nest depth deep,
// with one text leaf at the bottom.
func deepMultipart(depth int) string {
	var b strings.Builder
	b.WriteString("From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: deep\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 -0700\r\nMIME-Version: 1.0\r\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nthe leaf\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

// Issue 5 (second library hazard): 200 levels of multipart. FETCH
// BODYSTRUCTURE and BODY[1.1.1...] are answered (the structure may be cut
// at a depth limit), the server does not crash, and the session goes on.
// The bound on time is the connection deadline (30 s), loose on purpose;
// BenchmarkFetchStructureCold measures the cost.
func TestDeeplyNestedMultipart(t *testing.T) {
	const depth = 200
	e := newEnv(t, nil)
	msg := deepMultipart(depth)
	e.deliver(msg)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")

	u := r.ok("f1", "UID FETCH 1 (UID BODYSTRUCTURE)")
	if len(u) != 1 || !strings.Contains(u[0], "BODYSTRUCTURE (") {
		t.Fatalf("BODYSTRUCTURE: %q", u)
	}
	if opens := strings.Count(u[0], "("); opens > 10*depth {
		t.Errorf("BODYSTRUCTURE has %d parentheses for %d levels", opens, depth)
	}

	path := strings.TrimSuffix(strings.Repeat("1.", depth), ".")
	u, tagged := r.cmd("f2", "UID FETCH 1 (BODY.PEEK["+path+"])")
	switch {
	case strings.HasPrefix(tagged, "f2 OK"):
		if len(u) != 1 || !strings.Contains(u[0], "UID 1") {
			t.Errorf("BODY[%d levels]: %q", depth, u)
		}
		t.Logf("BODY[1 x %d] answered: %q", depth, u)
	case strings.HasPrefix(tagged, "f2 NO"), strings.HasPrefix(tagged, "f2 BAD"):
		t.Logf("BODY[1 x %d] refused: %q", depth, tagged)
	default:
		t.Fatalf("BODY[1 x %d]: %q", depth, tagged)
	}
	// A shallower section inside the depth the server parses.
	r.ok("f3", "UID FETCH 1 (BODY.PEEK[1.1.1.MIME])")
	// The session and the server are still alive.
	r.ok("n", "NOOP")
	e.login()
	if _, bodies := e.folder("INBOX"); len(bodies) != 1 || bodies[0] != msg {
		t.Errorf("stored message changed")
	}
}
