package queue

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// scripted is a raw SMTP server that answers the dialogue normally up to
// a point where it goes silent: "rcpt" (no reply to RCPT), "data" (no 354)
// or "read" (354, then it stops reading).
func scripted(t *testing.T, silentAt string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				c.Write([]byte("220 mx.b.test ESMTP\r\n"))
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"):
						c.Write([]byte("250-mx.b.test\r\n250 8BITMIME\r\n"))
					case strings.HasPrefix(cmd, "MAIL"):
						c.Write([]byte("250 ok\r\n"))
					case strings.HasPrefix(cmd, "RCPT"):
						if silentAt == "rcpt" {
							time.Sleep(10 * time.Second)
							return
						}
						c.Write([]byte("250 ok\r\n"))
					case cmd == "DATA":
						if silentAt == "data" {
							time.Sleep(10 * time.Second)
							return
						}
						c.Write([]byte("354 go\r\n"))
						time.Sleep(10 * time.Second) // "read": never reads the data
						return
					case cmd == "QUIT":
						c.Write([]byte("221 bye\r\n"))
						return
					default:
						c.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// Each step of RFC 5321 §4.5.3.2 has its own timeout; a server silent at
// that step costs the attempt (deferred), not the queue.
func TestStepTimeouts(t *testing.T) {
	for _, tc := range []struct {
		step   string
		set    func(o *Options)
		reason string
	}{
		{"rcpt", func(o *Options) { o.CommandTimeout = 100 * time.Millisecond }, "timeout talking to mx.b.test while sending RCPT TO"},
		{"data", func(o *Options) { o.DataInitTimeout = 100 * time.Millisecond }, "timeout talking to mx.b.test while sending DATA"},
		{"read", func(o *Options) { o.DataBlockTimeout = 100 * time.Millisecond }, "timeout talking to mx.b.test while sending the message"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			w := newWorld(t)
			addr := scripted(t, tc.step)
			w.dns.setMX("b.test", "mx.b.test")
			w.dns.setHost("mx.b.test", "127.0.0.1")
			_, port, _ := net.SplitHostPort(addr)
			w.opts.MXPort = atoi(port)
			w.opts.RetryMin = time.Hour
			tc.set(&w.opts)
			q := w.open(true)
			var id string
			if tc.step == "read" {
				// Bigger than the socket buffers, so that writing blocks.
				big := strings.Repeat(strings.Repeat("x", 998)+"\r\n", 16<<10)
				var err error
				id, err = q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}},
					strings.NewReader("Subject: big\r\n\r\n"+big), nil)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				id = w.submit(q, "bob@b.test")
			}
			w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "code=4.4.2", tc.reason)
		})
	}
}

// hangDialer never connects: the dial waits for its context.
type hangDialer struct{}

func (hangDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestConnectTimeout(t *testing.T) {
	w := newWorld(t)
	w.dns.setMX("b.test", "mx.b.test")
	w.dns.setHost("mx.b.test", "127.0.0.1")
	w.opts.Dialer = hangDialer{}
	w.opts.ConnectTimeout = 100 * time.Millisecond
	w.opts.RetryMin = time.Hour
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "cannot connect to mx.b.test[127.0.0.1]: context deadline exceeded")
}
