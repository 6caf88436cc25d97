package pop3d

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds a whole connection arbitrary bytes, logged in or not,
// over a real socket to a server over a real store. The server must not
// crash, must answer every line with something that looks like POP3, must
// end the connection once the input ends, and must keep serving.
func FuzzSession(f *testing.F) {
	e := newEnv(f, func(o *Options) { o.MaxErrors = 50; o.MaxAuthFailures = 50 })
	f.Add(false, []byte("CAPA\r\nUSER x\r\nPASS y\r\nAUTH PLAIN\r\n*\r\nQUIT\r\n"))
	f.Add(true, []byte("STAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\nTOP 2 1\r\nDELE 3\r\nRSET\r\nQUIT\r\n"))
	f.Add(true, []byte("LIST 4294967296\r\nRETR -1\r\nTOP 1 99999999999999999999\r\n\x00\xff\r\n"))
	f.Add(true, []byte("DELE 1\r\nDELE 1\r\nRETR 1\r\nQUIT\r\n"))
	f.Add(false, []byte("STLS\r\nAUTH PLAIN AHg=\r\nAUTH\r\n"))
	f.Add(true, []byte(strings.Repeat("x", 300)+"\r\nNOOP\r\n"))
	f.Fuzz(func(t *testing.T, login bool, input []byte) {
		// Keep mail to work on (DELE and QUIT may remove it).
		acct, err := e.store.Account(testUser)
		if err != nil {
			t.Fatal(err)
		}
		st, err := acct.Status("INBOX")
		acct.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Messages < 3 {
			for _, m := range threeMessages {
				if err := e.store.Deliver(context.Background(), []string{testUser}, strings.NewReader(m)); err != nil {
					t.Fatal(err)
				}
			}
		}
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatalf("server stopped accepting: %v", err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(conn)
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "+OK ") {
			t.Fatalf("greeting %q, %v", l, err)
		}
		if login {
			conn.Write([]byte("USER " + testUser + "\r\nPASS " + testPassword + "\r\n"))
		}
		// Write in the background: the server may stop reading early.
		go func() {
			conn.Write(input)
			conn.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(r)
		if err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("reading answers: %v (after %q)", err, out)
		}
		if login {
			prefix := "+OK send PASS\r\n+OK maildrop has "
			if !strings.HasPrefix(string(out), prefix) {
				t.Fatalf("login failed: %q", out[:min(len(out), 80)])
			}
			_, out, _ = bytes.Cut(out[len(prefix):], []byte("\r\n"))
		}
		if e.logs.panicCount() != 0 {
			t.Fatalf("a session panicked:\n%s", e.logs.String())
		}
		e.logs.reset()
		// The first answer to the input must be a status line.
		if len(out) > 0 && !strings.HasPrefix(string(out), "+OK") && !strings.HasPrefix(string(out), "-ERR") && !strings.HasPrefix(string(out), "+ ") {
			t.Fatalf("answer starts with %q", out[:min(len(out), 40)])
		}
	})
}
