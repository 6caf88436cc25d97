package queue

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// validRecord is a record as the queue writes it, for seeds and tests.
func validRecord() *Record {
	return &Record{Version: recordVersion, ID: "ABCDEFGH23456789", From: "alice@a.test", User: "alice@a.test",
		Created: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), Size: 1234,
		DKIM: []string{"DKIM-Signature: v=1; a=ed25519-sha256; d=a.test; s=sel;\r\n h=From:To; bh=abc=; b=def=\r\n"},
		Rcpts: []Rcpt{
			{Addr: "bob@b.test", Status: StatusSent, Attempts: 1, Last: time.Date(2026, 12, 3, 12, 0, 1, 0, time.UTC),
				Code: "2.0.0", Remote: "mx.b.test", TLS: TLSVerified},
			{Addr: "carol@c.test", Status: StatusQueued, Attempts: 2, Next: time.Date(2026, 12, 3, 12, 10, 0, 0, time.UTC),
				Code: "4.2.2", Reply: "452 4.2.2 mailbox full", Error: "host mx.c.test said: 452 4.2.2 mailbox full (in reply to RCPT TO)"},
			{Addr: "dan@d.test", Status: StatusFailed, Code: "5.1.1", Notified: true},
		}}
}

// The envelope parser never panics, accepts only what the delivery can
// use safely, and what it accepts survives a write and a read unchanged.
func FuzzParseRecord(f *testing.F) {
	good, _ := validRecord().encode()
	f.Add(good)
	f.Add([]byte(`{"v":1,"id":"X","created":"2026-01-01T00:00:00Z","rcpts":[{"addr":"a@b","status":"queued"}]}`))
	f.Add([]byte(`{"v":1,"id":"X","created":"2026-01-01T00:00:00Z","rcpts":[{"addr":"a@b\r\nRSET","status":"queued"}]}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{}{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := parseRecord(data)
		if err != nil {
			return
		}
		for _, a := range append([]string{rec.From}, func() (out []string) {
			for _, r := range rec.Rcpts {
				out = append(out, r.Addr)
			}
			return
		}()...) {
			if strings.ContainsAny(a, "\r\n <>") {
				t.Fatalf("accepted address %q", a)
			}
		}
		for _, h := range rec.DKIM {
			if !strings.HasSuffix(h, "\r\n") || strings.Contains(strings.ReplaceAll(h, "\r\n ", ""), "\n") &&
				strings.Count(h, "\n") != strings.Count(h, "\r\n") {
				t.Fatalf("accepted DKIM field %q", h)
			}
		}
		again, err := rec.encode()
		if err != nil {
			t.Fatal(err)
		}
		rec2, err := parseRecord(again)
		if err != nil {
			t.Fatalf("re-read failed: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(rec, rec2) {
			t.Fatalf("changed by a round trip:\n%+v\n%+v", rec, rec2)
		}
	})
}

// Whatever a remote answers and whatever headers the message had, the DSN
// is a well-formed multipart/report: three parts, the status fields
// parseable, every line within RFC 5322's 998 octets and CRLF-ended.
func FuzzDSN(f *testing.F) {
	f.Add("550 5.1.1 <bob@b.test>: user unknown", "host mx.b.test said: 550 5.1.1 user unknown (in reply to RCPT TO)",
		"bob@b.test", []byte("From: a@a.test\r\nSubject: hi\r\n\r\nbody\r\n"), false, false)
	f.Add("452 4.2.2 full\r\nof\nlines", "", "bøb@b.test", []byte("Subject: ü\n\n"), true, true)
	f.Add("", strings.Repeat("long reason ", 200), "x@y", []byte(strings.Repeat("X-Long: "+strings.Repeat("a", 2000)+"\r\n", 40)), false, false)
	f.Add("554 \x00\x1b[31m", "--=_BOUNDARY", "a@b", []byte("--=_BOUNDARY\r\n\r\n"), false, false)
	f.Fuzz(func(t *testing.T, reply, text, addr string, headers []byte, utf8, delayed bool) {
		if checkAddr(addr) != nil {
			return // Submit and parseRecord refuse such addresses
		}
		d := &dsnReport{
			Hostname: "mx.a.test", ID: "ABCDEFGH23456789", Sender: "alice@a.test",
			Arrival: time.Unix(0, 0).UTC(), Date: time.Unix(3600, 0).UTC(), Delayed: delayed, UTF8: utf8,
			Boundary: "=_BOUNDARY", MessageID: "x.y@mx.a.test",
			Headers: readHeaderSection(bytes.NewReader(headers), maxDSNHeaders, "=_BOUNDARY"),
			Rcpts: []dsnRcpt{{Addr: addr, Action: "failed", Status: "5.0.0", Remote: "mx.b.test",
				Reply: cleanText(reply, 512), Text: cleanText(text, maxTextLen), Last: time.Unix(60, 0).UTC()}},
		}
		var b bytes.Buffer
		d.WriteTo(&b)
		out := b.Bytes()
		for i, line := range bytes.SplitAfter(out, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			if !bytes.HasSuffix(line, []byte("\r\n")) || bytes.IndexByte(line[:len(line)-2], '\r') >= 0 || bytes.IndexByte(line[:len(line)-2], '\n') >= 0 {
				t.Fatalf("line %d not CRLF-clean: %q", i, line)
			}
			if len(line) > 1000 {
				t.Fatalf("line %d is %d octets", i, len(line))
			}
		}
		e, err := message.Read(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		mr := e.MultipartReader()
		if mr == nil {
			t.Fatal("not multipart")
		}
		parts := 0
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			parts++
			if parts == 2 {
				var body bytes.Buffer
				body.ReadFrom(p.Body)
				blocks := strings.Split(strings.TrimSpace(body.String()), "\r\n\r\n")
				if len(blocks) != 2 {
					t.Fatalf("%d status blocks:\n%s", len(blocks), body.String())
				}
				h, err := textproto.ReadHeader(bufioReader(blocks[1] + "\r\n\r\n"))
				if err != nil {
					t.Fatal(err)
				}
				if got := h.Get("Final-Recipient"); got != "rfc822; "+d.addrField(addr) {
					t.Fatalf("Final-Recipient %q", got)
				}
			}
		}
		if parts != 3 {
			t.Fatalf("%d parts", parts)
		}
	})
}
