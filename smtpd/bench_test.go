package smtpd

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// BenchmarkInboundDelivery sends 64 KiB messages over one connection into
// the real store (fsyncs included): the cost per accepted message.
func BenchmarkInboundDelivery(b *testing.B) {
	e := newEnv(b)
	r := e.start(e.options(Inbound), false)
	c, err := smtp.Dial(r.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("b", 78)+"\r\n", 64<<10/80)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		if err := c.Mail("sender@remote.example", nil); err != nil {
			b.Fatal(err)
		}
		if err := c.Rcpt("alice@example.org", nil); err != nil {
			b.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			b.Fatal(err)
		}
		io.WriteString(w, msg)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecipient(b *testing.B) {
	for b.Loop() {
		if _, err := parseRecipient("Alice.Smith+newsletter@Example.ORG", false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInbound4KiBPerConnection8 is the shape of mailbench smtp1:
// eight clients at once, each message on a connection of its own (EHLO,
// MAIL, RCPT, DATA of 4 KiB, QUIT) into the real store, fsyncs included.
func BenchmarkInbound4KiBPerConnection8(b *testing.B) {
	addr, msg := startParallelBench(b, 4<<10)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := smtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			err = c.SendMail("sender@remote.example", []string{"alice@example.org"}, strings.NewReader(msg))
			if err == nil {
				err = c.Quit()
			}
			c.Close()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkInbound1MiB8 sends 1 MiB messages over 8 connections, many
// messages each, as mailbench's smtpn -size 1048576 does: the cost of
// moving big messages through the inbound filters into the store.
func BenchmarkInbound1MiB8(b *testing.B) {
	addr, msg := startParallelBench(b, 1<<20)
	b.RunParallel(func(pb *testing.PB) {
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if err := c.SendMail("sender@remote.example", []string{"alice@example.org"}, strings.NewReader(msg)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// startParallelBench starts an inbound server for 8 parallel clients on 2
// CPUs and returns its address and a message of about size octets.
func startParallelBench(b *testing.B, size int) (string, string) {
	e := newEnv(b)
	opts := e.options(Inbound)
	opts.MaxConnectionsPerIP = 0
	r := e.start(opts, false)
	msg := "Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("b", 78)+"\r\n", size/80)
	b.SetBytes(int64(len(msg)))
	b.SetParallelism(4)
	b.ResetTimer()
	return r.addr, msg
}
