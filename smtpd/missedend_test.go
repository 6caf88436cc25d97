package smtpd

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// goSMTPData hands on raw as go-smtp v0.26.0's DATA reader does: its line
// start state machine (data.go), including the slip after a second CR.
// ended reports whether it found the end itself.
func goSMTPData(raw []byte) (out []byte, ended bool) {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
	)
	state := beginLine
	for _, c := range raw {
		switch state {
		case beginLine:
			if c == '.' {
				state = dot
				continue
			}
			if c == '\r' {
				state = cr
			} else {
				state = data
			}
		case dot:
			if c == '\r' {
				state = dotCR
				continue
			}
			state = data
		case dotCR:
			if c == '\n' {
				return out, true
			}
			state = data
		case cr:
			if c == '\n' {
				state = beginLine
			} else {
				state = data
			}
		case data:
			if c == '\r' {
				state = cr
			}
		}
		out = append(out, c)
	}
	return out, false
}

// transmit dot-stuffs content and ends it as a conforming client does
// (RFC 5321 §4.5.2), with a command after the end; want is what the
// server must take as the message.
func transmit(content []byte) (raw, want []byte) {
	want = bytes.Clone(content)
	if !bytes.HasSuffix(want, []byte("\r\n")) {
		want = append(want, "\r\n"...)
	}
	lineStart := true
	for i, c := range want {
		if lineStart && c == '.' {
			raw = append(raw, '.')
		}
		raw = append(raw, c)
		lineStart = c == '\n' && i > 0 && want[i-1] == '\r'
	}
	raw = append(raw, ".\r\nMAIL FROM:<evil@example.net>\r\n"...)
	return raw, want
}

// received reads a message through dataReader's scanning of what go-smtp
// hands on, in chunks of the sizes r gives.
func received(t *testing.T, r io.Reader) (msg []byte, found bool) {
	d := &dataReader{r: r}
	p := make([]byte, 64)
	for range 100000 {
		n, f, err := d.read(p)
		msg = append(msg, p[:n]...)
		if f {
			return msg, true
		}
		if err == io.EOF {
			return msg, false
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	t.Fatal("no end")
	return nil, false
}

// goSMTPReader gives go-smtp's output, and io.EOF only where go-smtp
// found the end itself (else io.ErrUnexpectedEOF, as go-smtp does when the
// connection ends).
type goSMTPReader struct {
	r     io.Reader
	ended bool
}

func (g *goSMTPReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err == io.EOF && !g.ended {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func checkMissedEnd(t *testing.T, content []byte) {
	raw, want := transmit(content)
	out, ended := goSMTPData(raw)
	for _, chunked := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r },
		iotest.OneByteReader,
		iotest.HalfReader,
	} {
		got, found := received(t, chunked(&goSMTPReader{r: bytes.NewReader(out), ended: ended}))
		if !bytes.Equal(got, want) {
			t.Fatalf("content %q sent as %q: got %q, want %q", content, raw, got, want)
		}
		if found == ended {
			t.Fatalf("content %q: go-smtp ended it: %v, scan found an end: %v", content, ended, found)
		}
	}
}

func TestMissedEnd(t *testing.T) {
	for _, content := range []string{
		"Subject: x\r\n\r\nplain\r\n",
		"line one\r\r\nline two\r\r\n", // the end go-smtp misses
		"a\r\r\r\n",                    // an odd run: go-smtp ends it
		"a\r\r\r\r\n",                  // even again
		"a\r\r\n.x\r\n",                // a doubled dot after CR CR LF: go-smtp keeps it
		"a\r\r\n.\r\r\n",               // and a dot line ending CR CR LF
		"a\r\r\n.\rx\r\n",
		"a\r\r\n..\r\n",
		".\r\n",
		"\r\r\n",
		"a\r\r\nb\rc\r\r\nd",
		"x\r\n.\r\r\n.\r\n",
		"no end of line",
	} {
		checkMissedEnd(t, []byte(content))
	}
}

// FuzzMissedEnd: whatever the content, a conforming client's message is
// taken whole and ends at its end, where go-smtp sees it or not.
func FuzzMissedEnd(f *testing.F) {
	f.Add([]byte("line one\r\r\nline two\r\r\n"))
	f.Add([]byte("a\r\r\n.x\r\r\n..\r\r\r\r\n"))
	f.Add([]byte(".\r\r\r\n.\r\n\r"))
	f.Fuzz(func(t *testing.T, content []byte) {
		checkMissedEnd(t, content)
	})
}

func TestMissedEndShortBuffer(t *testing.T) {
	d := &dataReader{r: bytes.NewReader([]byte("x"))}
	if _, _, err := d.read(make([]byte, 2)); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("read into 2 octets: %v, want io.ErrShortBuffer", err)
	}
}

// A message whose last line ends in CR CR LF is answered at its end on
// the inbound port and on submission under STARTTLS, with a 421 after
// the reply; a command sent after the end never runs.
func TestMissedEndAnswered(t *testing.T) {
	for _, mode := range []Mode{Inbound, Submission} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			opts := e.options(mode)
			if mode == Submission {
				e.withQueue(&opts)
			}
			r := e.start(opts, false)
			c := dialRaw(t, r.addr, nil)
			c.cmd("EHLO client.example")
			from := "sender@remote.example"
			if mode == Submission {
				c.startTLS(e.clientTLS)
				c.cmd("EHLO client.example")
				c.expect("AUTH PLAIN "+b64("\x00alice@example.org\x00"+alicePass), "235 2.0.0 Authentication succeeded")
				from = "alice@example.org"
			}
			c.expectPrefix("MAIL FROM:<"+from+">", "250 ")
			c.expectPrefix("RCPT TO:<bob@example.org>", "250 ")
			c.expect("DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>")
			msg := "From: " + from + "\r\nSubject: crcrlf\r\n\r\nline one\r\r\n..dot\r\r\nlast\r\r\n.\r\n" +
				"RCPT TO:<alice@example.org>\r\n"
			if _, err := c.nc.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
				t.Fatalf("end of data: %q, want 250 queued", got)
			}
			if got := c.read(); !strings.HasPrefix(got, "421 4.4.2 "+testHost+" closing the connection") {
				t.Fatalf("after the reply: %q, want 421", got)
			}
			c.wantClosed()
			in := e.inbox("bob@example.org")
			if len(in) != 1 {
				t.Fatalf("%d messages for bob, want 1", len(in))
			}
			if !strings.HasSuffix(in[0].data, "\r\n\r\nline one\r\n\r\n.dot\r\n\r\nlast\r\n\r\n") {
				t.Errorf("stored message:\n%q", in[0].data)
			}
			if n := len(e.inbox("alice@example.org")); n != 0 {
				t.Errorf("alice has %d messages: the RCPT after the end ran", n)
			}
			e.wantLog("message ended after a line ending in CR CR LF")
		})
	}
}
