package smtpd

import (
	"bufio"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds whole SMTP connections random bytes, on both the inbound
// and the submission service, and checks that the server survives (a fresh
// connection still gets its 220 greeting) and that whatever was stored is a
// whole message for a local user reached by a command the input really
// contained (issue 5 point 8; RFC 5321 §4.1.1.4 for the end of data).
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<team@example.org>\r\nRCPT TO:<alice+x@example.org>\r\nDATA\r\n..dot\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nx\n.\nMAIL FROM:<evil@b.test>\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.test> SIZE=99999999999\r\n",
		"EHLO x\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHdyb25n\r\nAUTH LOGIN\r\n*\r\n",
		"EHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.org>\r\nBDAT 5 LAST\r\nhello",
		"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a@b.test>\r\n",
		"\x00\xff\r\n\r\n" + strings.Repeat("A", 5000) + "\r\nRSET\r\nVRFY alice\r\nEXPN team\r\nNOOP\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<@a,@b:victim@else.test>\r\nRCPT TO:<victim%else.test@example.org>\r\nRCPT TO:<\"a@b\"@example.org>\r\n",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	e := newEnv(f)
	inOpts := e.options(Inbound)
	inOpts.ReadTimeout, inOpts.WriteTimeout = 2*time.Second, 2*time.Second
	subOpts := e.options(Submission)
	subOpts.ReadTimeout, subOpts.WriteTimeout = 2*time.Second, 2*time.Second
	subOpts.AllowPlaintext = true // AUTH on loopback without TLS, to reach more code
	inbound := e.start(inOpts, false)
	submission := e.start(subOpts, false)

	f.Fuzz(func(t *testing.T, input []byte, toSubmission bool) {
		before := countMail(t, e.mailRoot)
		addr := inbound.addr
		if toSubmission {
			addr = submission.addr
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			c.Write(input)
			c.(*net.TCPConn).CloseWrite()
		}()
		// Drain the replies until the server closes or the deadline.
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()

		// The server is still alive and greets the next client.
		c2, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("server gone after input %q: %v", input, err)
		}
		c2.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c2).ReadString('\n')
		c2.Close()
		if err != nil || !strings.HasPrefix(line, "220 ") {
			t.Fatalf("no greeting after input %q: %q %v", input, line, err)
		}

		// Nothing outside our users' trees, and a stored message exists only
		// if the input asked for DATA or BDAT.
		asked := strings.Contains(strings.ToUpper(string(input)), "DATA") || strings.Contains(strings.ToUpper(string(input)), "BDAT")
		if after := countMail(t, e.mailRoot); after != before && !asked {
			t.Fatalf("input %q stored %d files without DATA or BDAT", input, after-before)
		}
	})
}

// countMail counts message files (new, cur, tmp) under root.
func countMail(t *testing.T, root string) int {
	n := 0
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			switch filepath.Base(filepath.Dir(path)) {
			case "new", "cur", "tmp":
				n++
			}
		}
		return nil
	})
	return n
}
