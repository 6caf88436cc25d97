package imapd

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// benchEnv fills INBOX with n small messages, every tenth flagged.
func benchEnv(b *testing.B, n int) (*env, *raw) {
	b.Helper()
	e := newEnv(b, nil)
	c := e.login()
	for i := 0; i < n; i++ {
		appendMsg(b, c, "INBOX", simple(fmt.Sprintf("message %d", i), strings.Repeat("some body text ", 20)+fmt.Sprintf("token%d\r\n", i)), nil)
	}
	c.Close()
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.ok("f", `STORE 1:* +FLAGS.SILENT (\Seen)`)
	for i := 10; i <= n; i += 10 {
		r.ok("g", fmt.Sprintf(`STORE %d +FLAGS.SILENT (\Flagged)`, i))
	}
	return e, r
}

func BenchmarkFetchFlags(b *testing.B) {
	const n = 1000
	_, r := benchEnv(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if u := r.ok("a", "FETCH 1:* (UID FLAGS)"); len(u) != n {
			b.Fatalf("%d responses", len(u))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/message")
}

func BenchmarkSearchFlags(b *testing.B) {
	const n = 1000
	_, r := benchEnv(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if u := r.ok("a", "SEARCH FLAGGED NOT DELETED"); len(u) != 1 {
			b.Fatalf("%q", u)
		}
	}
}

func BenchmarkSearchBody(b *testing.B) {
	const n = 300
	_, r := benchEnv(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if u := r.ok("a", "SEARCH BODY token299"); len(u) != 1 || u[0] != "* SEARCH 300" {
			b.Fatalf("%q", u)
		}
	}
}

func BenchmarkFetchBodyStructureCached(b *testing.B) {
	const n = 300
	_, r := benchEnv(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if u := r.ok("a", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"); len(u) != n {
			b.Fatalf("%d responses", len(u))
		}
	}
}

// BenchmarkFetchBodies4KiB is mailbench's fetch workload in small: FETCH
// 1:* (BODY.PEEK[]) of many 4 KiB messages, read by the go-imap client.
// The per-message cost (open, read, literal) dominates, not the copying.
func BenchmarkFetchBodies4KiB(b *testing.B) {
	const n = 500
	e := newEnv(b, nil)
	body := strings.Repeat("a line of text in the body of a message, sixty-four octets\r\n", 4096/60)
	var total int64
	for i := range n {
		m := simple(fmt.Sprintf("message %d", i), body)
		total += int64(len(m))
		e.deliver(m)
	}
	c := e.loginSelect("INBOX")
	defer c.Close()
	section := &imap.FetchItemBodySection{Peek: true}
	opts := &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cmd := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, opts)
		var got int64
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if bs, ok := item.(imapclient.FetchItemDataBodySection); ok && bs.Literal != nil {
					k, err := io.Copy(io.Discard, bs.Literal)
					if err != nil {
						b.Fatal(err)
					}
					got += k
				}
			}
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		if got != total {
			b.Fatalf("FETCH sent %d octets, want %d", got, total)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/message")
}
