package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// pop3Client is a minimal POP3 client (RFC 1939) over net/textproto.
type pop3Client struct {
	conn net.Conn
	tp   *textproto.Conn
}

// dialPOP3 connects (TLS as -tls says: implicit, or STLS per RFC 2595 §4)
// and logs in with USER/PASS (RFC 1939 §7).
func (o *options) dialPOP3(ctx context.Context) (*pop3Client, error) {
	conn, err := o.dialImplicit(ctx, o.pop3Port)
	if err != nil {
		return nil, err
	}
	p := &pop3Client{conn: conn, tp: textproto.NewConn(conn)}
	if _, err := p.status(); err != nil {
		p.close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if o.tlsMode == "starttls" {
		if _, err := p.cmd("STLS"); err != nil {
			p.close()
			return nil, fmt.Errorf("STLS: %w", err)
		}
		conn = tls.Client(conn, o.tlsCfg)
		p = &pop3Client{conn: conn, tp: textproto.NewConn(conn)}
	}
	if _, err := p.cmd("USER " + o.user); err != nil {
		p.close()
		return nil, fmt.Errorf("USER: %w", err)
	}
	if _, err := p.cmd("PASS " + o.pass); err != nil {
		p.close()
		return nil, fmt.Errorf("PASS: %w", err)
	}
	return p, nil
}

func (p *pop3Client) close() { p.conn.Close() }

// status reads one status line; "-ERR ..." is an error.
func (p *pop3Client) status() (string, error) {
	line, err := p.tp.ReadLine()
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(line, "+OK"); ok {
		return strings.TrimSpace(rest), nil
	}
	return "", fmt.Errorf("server said %q", line)
}

func (p *pop3Client) cmd(line string) (string, error) {
	if err := p.tp.PrintfLine("%s", line); err != nil {
		return "", err
	}
	return p.status()
}

// stat returns the message count and maildrop size (RFC 1939 §5 STAT).
func (p *pop3Client) stat() (int, int64, error) {
	s, err := p.cmd("STAT")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("STAT reply %q", s)
	}
	n, err1 := strconv.Atoi(f[0])
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("STAT reply %q", s)
	}
	return n, size, nil
}

// retr fetches message i and returns its size in octets as the message
// has them (CRLF line ends, dot-stuffing undone: RFC 1939 §3).
func (p *pop3Client) retr(i int) (int64, error) {
	if _, err := p.cmd("RETR " + strconv.Itoa(i)); err != nil {
		return 0, err
	}
	return readMultiline(p.tp.R)
}

// readMultiline reads a dot-terminated multi-line response and counts its
// octets without the terminator and without the stuffed dots.
func readMultiline(r *bufio.Reader) (int64, error) {
	var n int64
	atLineStart := true
	for {
		chunk, err := r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return n, err
		}
		if atLineStart && len(chunk) > 0 && chunk[0] == '.' {
			if string(chunk) == ".\r\n" || string(chunk) == ".\n" {
				return n, nil
			}
			chunk = chunk[1:]
		}
		n += int64(len(chunk))
		atLineStart = err == nil
	}
}

// runPOP3 retrieves every message of the maildrop, -repeat times (a new
// session each time, ended by QUIT without DELE so nothing changes), and
// reports the median's MB/s over the RETRs.
func runPOP3(ctx context.Context, o *options, r *reporter) error {
	var ds []time.Duration
	var bytes int64
	msgs := 0
	for rep := 0; rep < o.repeat && ctx.Err() == nil; rep++ {
		p, err := o.dialPOP3(ctx)
		if err != nil {
			return err
		}
		n, size, err := p.stat()
		if err != nil {
			p.close()
			return err
		}
		if n == 0 {
			p.close()
			return fmt.Errorf("%w: the maildrop is empty", errCheck)
		}
		var got int64
		t0 := time.Now()
		for i := 1; i <= n; i++ {
			k, err := p.retr(i)
			if err != nil {
				p.close()
				return fmt.Errorf("RETR %d: %w", i, err)
			}
			got += k
		}
		ds = append(ds, time.Since(t0))
		p.cmd("QUIT")
		p.close()
		if got != size {
			return fmt.Errorf("%w: RETR of %d messages gave %d octets, STAT said %d", errCheck, n, got, size)
		}
		bytes, msgs = got, n
	}
	med := medianDur(ds)
	r.mbps("mb_per_s", bytes, med)
	r.ms("ms", med)
	r.count("msgs", int64(msgs), "msgs")
	r.count("bytes", bytes, "bytes")
	return nil
}
