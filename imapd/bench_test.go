package imapd

import (
	"fmt"
	"strings"
	"testing"
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
