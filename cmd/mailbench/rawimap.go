package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// rawIMAP is a lean IMAP client for the select workloads: it writes
// commands and reads responses line by line, parsing only what it checks.
// go-imap's imapclient turns every FETCH response into items on channels,
// and for UID FETCH 1:* (UID FLAGS) of 100,000 messages that took about
// 200 ms of the client's CPU against the server's 60-80 ms (measured with
// /proc on both), so the figure was the client's speed, the same for
// every server. A client that syncs a big folder (mbsync, a phone) reads
// it much as this does.
type rawIMAP struct {
	nc  net.Conn
	r   *bufio.Reader
	tag int
}

// dialRawIMAP connects as -tls says and reads the greeting.
func (o *options) dialRawIMAP(ctx context.Context) (*rawIMAP, error) {
	nc, err := o.dialImplicit(ctx, o.imapPort)
	if err != nil {
		return nil, err
	}
	c := &rawIMAP{nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	line, err := c.line()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("IMAP greeting: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("* OK")) && !bytes.HasPrefix(line, []byte("* PREAUTH")) {
		nc.Close()
		return nil, fmt.Errorf("IMAP greeting: %q", line)
	}
	if o.tlsMode == "starttls" {
		if _, err := c.run("STARTTLS", nil); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tls.Client(nc, o.tlsCfg)
		c.nc, c.r = nc, bufio.NewReaderSize(nc, 64<<10)
	}
	return c, nil
}

// line reads one response line, without its CRLF, skipping the octets of
// any literal it announces (none is expected here; a literal's content is
// not parsed).
func (c *rawIMAP) line() ([]byte, error) {
	l, err := c.readLine()
	if err != nil {
		return nil, err
	}
	if n, ok := literalLen(l); ok {
		l = bytes.Clone(l) // skipping the literal reuses the reader's buffer
		if _, err := io.CopyN(io.Discard, c.r, n); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// readLine reads one line, without its CRLF; a literal it announces is
// left to the caller.
func (c *rawIMAP) readLine() ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(time.Minute))
	l, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		var long []byte
		long = append(long, l...)
		for err == bufio.ErrBufferFull {
			l, err = c.r.ReadSlice('\n')
			long = append(long, l...)
		}
		l = long
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r")), nil
}

// literalLen is n, true when l ends with {n} or {n+} (a literal of n
// octets follows, n may be 0).
func literalLen(l []byte) (int64, bool) {
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(string(l[i+1:len(l)-1]), "+"), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// send writes one command and returns its tag.
func (c *rawIMAP) send(cmd string) (string, error) {
	c.tag++
	tag := "m" + strconv.Itoa(c.tag)
	c.nc.SetWriteDeadline(time.Now().Add(time.Minute))
	_, err := io.WriteString(c.nc, tag+" "+cmd+"\r\n")
	return tag, err
}

// fetchBodies sends FETCH 1:* (BODY.PEEK[]) and reads every response,
// counting the messages whose BODY[] came as a literal and its octets,
// which are read and dropped.
func (c *rawIMAP) fetchBodies() (octets int64, n int, err error) {
	tag, err := c.send("FETCH 1:* (BODY.PEEK[])")
	if err != nil {
		return 0, 0, err
	}
	prefix := []byte(tag + " ")
	for {
		l, err := c.readLine()
		if err != nil {
			return octets, n, fmt.Errorf("FETCH: %w", err)
		}
		if bytes.HasPrefix(l, prefix) {
			if st := l[len(prefix):]; !bytes.HasPrefix(st, []byte("OK")) {
				return octets, n, fmt.Errorf("FETCH: %s", st)
			}
			return octets, n, nil
		}
		// A response goes on after each literal it holds. A body may also
		// come as a quoted string (an empty one, say).
		for {
			k, lit := literalLen(l)
			if lit && bytes.HasSuffix(l[:bytes.LastIndexByte(l, '{')], []byte("BODY[] ")) {
				n++
				octets += k
			} else if q := bytes.Index(l, []byte(`BODY[] "`)); q >= 0 {
				n++
				octets += quotedLen(l[q+len(`BODY[] `):])
			}
			if !lit {
				break
			}
			if _, err := io.CopyN(io.Discard, c.r, k); err != nil {
				return octets, n, fmt.Errorf("FETCH: %w", err)
			}
			if l, err = c.readLine(); err != nil {
				return octets, n, fmt.Errorf("FETCH: %w", err)
			}
		}
	}
}

// quotedLen is the length of the content of the quoted string q begins
// with (RFC 9051 §4.3: backslash quotes '"' and '\').
func quotedLen(q []byte) int64 {
	n := int64(0)
	for i := 1; i < len(q); i++ {
		switch q[i] {
		case '\\':
			i++
		case '"':
			return n
		}
		n++
	}
	return n
}

// run sends one command and reads to its tagged response, handing each
// untagged line to each (when not nil). A tagged NO or BAD is an error.
func (c *rawIMAP) run(cmd string, each func(line []byte) error) ([]byte, error) {
	tag, err := c.send(cmd)
	if err != nil {
		return nil, err
	}
	verb, _, _ := strings.Cut(cmd, " ")
	prefix := []byte(tag + " ")
	for {
		l, err := c.line()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", verb, err)
		}
		if bytes.HasPrefix(l, prefix) {
			st := l[len(prefix):]
			if !bytes.HasPrefix(st, []byte("OK")) {
				return nil, fmt.Errorf("%s: %s", verb, st)
			}
			return st, nil
		}
		if each != nil && len(l) > 0 && l[0] == '*' {
			if err := each(l); err != nil {
				return nil, err
			}
		}
	}
}

// quoted is s as an IMAP quoted string (RFC 9051 §4.3).
func quoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// login sends LOGIN.
func (c *rawIMAP) login(user, pass string) error {
	_, err := c.run("LOGIN "+quoted(user)+" "+quoted(pass), nil)
	return err
}

// selectMailbox sends SELECT and returns the EXISTS count.
func (c *rawIMAP) selectMailbox(name string) (int, error) {
	return c.open("SELECT", name)
}

// examine sends EXAMINE (a read-only SELECT) and returns the EXISTS count.
func (c *rawIMAP) examine(name string) (int, error) {
	return c.open("EXAMINE", name)
}

func (c *rawIMAP) open(verb, name string) (int, error) {
	exists := -1
	_, err := c.run(verb+" "+quoted(name), func(l []byte) error {
		f := bytes.Fields(l)
		if len(f) == 3 && string(f[2]) == "EXISTS" {
			n, err := strconv.Atoi(string(f[1]))
			if err != nil {
				return fmt.Errorf("%s: bad EXISTS %q", verb, l)
			}
			exists = n
		}
		return nil
	})
	if err == nil && exists < 0 {
		err = fmt.Errorf("%s %s: no EXISTS in the answer", verb, name)
	}
	return exists, err
}

// uidFetchFlags sends UID FETCH 1:* (UID FLAGS) and counts the FETCH
// responses, checking that each carries a UID and FLAGS.
func (c *rawIMAP) uidFetchFlags() (int, error) {
	n := 0
	_, err := c.run("UID FETCH 1:* (UID FLAGS)", func(l []byte) error {
		if !bytes.Contains(l, []byte(" FETCH (")) {
			return nil // EXISTS, EXPUNGE and the like
		}
		if !bytes.Contains(l, []byte("UID ")) || !bytes.Contains(l, []byte("FLAGS (")) {
			return fmt.Errorf("%w: a FETCH response without UID or FLAGS: %q", errCheck, l)
		}
		n++
		return nil
	})
	return n, err
}

// logout sends LOGOUT and closes.
func (c *rawIMAP) logout() {
	c.run("LOGOUT", nil)
	c.nc.Close()
}
