package smtpd

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// goSMTPData hands on raw as go-smtp v0.26.0's DATA reader does: its line
// start state machine (data.go), including the slip after a second CR.
// ended reports whether it found the end itself.
func goSMTPData(raw []byte) (out []byte, ended bool) {
	out, _, ended = goSMTPDataAt(raw)
	return out, ended
}

// goSMTPDataAt is goSMTPData that also gives the place in raw of each
// octet handed on.
func goSMTPDataAt(raw []byte) (out []byte, at []int, ended bool) {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
	)
	state := beginLine
	for i, c := range raw {
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
				return out, at, true
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
		at = append(at, i)
	}
	return out, at, false
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
		n, _, f, err := d.read(p)
		msg = append(msg, p[:n]...)
		if f {
			return msg, true
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return msg, false // go-smtp's end, or the end of the input
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

// splitReader reads r with its first read cut at octet at.
type splitReader struct {
	r  io.Reader
	at int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if r.at > 0 && len(p) > r.at {
		p = p[:r.at]
	}
	n, err := r.r.Read(p)
	r.at -= n
	return n, err
}

// chunkings are the ways checkMissedEnd hands go-smtp's output to the
// scanner: whole, an octet at a time, halves, and split in two at every
// place (for short messages).
func chunkings(out []byte) []func(io.Reader) io.Reader {
	ways := []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r },
		iotest.OneByteReader,
		iotest.HalfReader,
	}
	if len(out) <= 200 {
		for at := 1; at < len(out); at++ {
			ways = append(ways, func(r io.Reader) io.Reader {
				return &splitReader{r: r, at: at}
			})
		}
	}
	return ways
}

func checkMissedEnd(t *testing.T, content []byte) {
	raw, want := transmit(content)
	out, ended := goSMTPData(raw)
	for _, chunked := range chunkings(out) {
		got, found := received(t, chunked(&goSMTPReader{r: bytes.NewReader(out), ended: ended}))
		if !ended && !found {
			// Left to go-smtp, as before: only where the last line
			// is a run of CRs that may have begun at a line start
			// go-smtp saw (missedend.go).
			if lastLineCRs(want) {
				return
			}
			t.Fatalf("content %q sent as %q: no end found", content, raw)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("content %q sent as %q: got %q, want %q", content, raw, got, want)
		}
		if found && ended {
			t.Fatalf("content %q: go-smtp ended it, and scan found an end too", content)
		}
	}
}

// lastLineCRs reports whether the last line of msg is CRs alone.
func lastLineCRs(msg []byte) bool {
	body := bytes.TrimSuffix(msg, []byte("\n"))
	line := body[bytes.LastIndexByte(body, '\n')+1:]
	return len(line) > 0 && len(bytes.Trim(line, "\r")) == 0
}

// An end is found only where RFC 5321 puts one, whatever a client sends:
// "\r\n.\r\n" in raw (the start of the data counts as a line end), at
// the dot go-smtp handed on.
func checkNoFalseEnd(t *testing.T, raw []byte) {
	out, at, ended := goSMTPDataAt(raw)
	// The scanner finds the same, however the octets come.
	whole, wholeFound := received(t, &goSMTPReader{r: bytes.NewReader(out), ended: ended})
	for _, chunked := range chunkings(out) {
		got, found := received(t, chunked(&goSMTPReader{r: bytes.NewReader(out), ended: ended}))
		if found != wholeFound || !bytes.Equal(got, whole) {
			t.Fatalf("raw %q: in pieces %q (end %v), whole %q (end %v)", raw, got, found, whole, wholeFound)
		}
	}
	for l := 1; l <= len(out); l++ {
		var s endScanner
		if _, _, found := s.scan(bytes.Clone(out[:l])); !found {
			continue
		}
		dot := at[l-3]
		framed := append([]byte("\r\n"), raw...)
		if !bytes.HasPrefix(framed[dot:], []byte("\r\n.\r\n")) {
			t.Fatalf("raw %q: an end found at %d, where RFC 5321 has none", raw, dot)
		}
		return
	}
}

// noFalseEndCases are raw DATA transfers (dot-doubled or not) in which
// the scanner must not find an end RFC 5321 does not have.
var noFalseEndCases = []string{
	"A\r\n.\r\r\r\n..\r\nSECRET-TAIL\r\n.\r\n", // found by a review helper
	".\r\r\r\n..\r\n",
	".\r\r\r\n.\r.\r\n",
	"a\r\r\n.\r\n",
	"\r\r\n.\r\n",
	"X\r\r\n..\r.\r\n..\r\nSECRET-TAIL\r\n.\r\n", // the next two, found by a review helper
	"Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("a", 70)+"\r\n", 55) + "aaaa\r\nX\r\r\n..\r.\r\n..\r\nSECRET-TAIL\r\n.\r\n",
}

func TestMissedEndNoFalseEnd(t *testing.T) {
	for _, raw := range noFalseEndCases {
		checkNoFalseEnd(t, []byte(raw))
	}
}

// FuzzMissedEndNoFalseEnd: any bytes, dot-doubled or not.
func FuzzMissedEndNoFalseEnd(f *testing.F) {
	for _, raw := range noFalseEndCases {
		f.Add([]byte(raw))
	}
	f.Add([]byte("x\r\r\n.\r\nMAIL FROM:<a@b>\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkNoFalseEnd(t, raw)
	})
}

// missedEndCases are message contents a conforming client sends
// (before its dot-doubling), each taken whole and ended at its end.
var missedEndCases = []string{
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
	"X\r\r\n.\r.\r\n.\r\nSECRET-TAIL\r\n", // a review helper's: a false end, from a bad copy
}

func TestMissedEnd(t *testing.T) {
	for _, content := range missedEndCases {
		checkMissedEnd(t, []byte(content))
	}
}

// FuzzMissedEnd: whatever the content, a conforming client's message is
// taken whole and ends at its end, where go-smtp sees it or not.
func FuzzMissedEnd(f *testing.F) {
	for _, content := range missedEndCases {
		f.Add([]byte(content))
	}
	f.Add([]byte("a\r\r\n.x\r\r\n..\r\r\r\r\n"))
	f.Add([]byte(".\r\r\r\n.\r\n\r"))
	f.Fuzz(func(t *testing.T, content []byte) {
		checkMissedEnd(t, content)
	})
}

// Reads of any size get the same message: a bufio.Reader fills the end of
// its buffer with reads of a few octets.
func TestMissedEndSmallReads(t *testing.T) {
	raw, want := transmit([]byte("line\r\r\n..x\r\r\nend\r\r\n"))
	out, _ := goSMTPData(raw)
	for _, size := range []int{1, 2, 3, 15, 16, 17, 63, 64, 65} {
		d := &dataReader{r: iotest.HalfReader(bytes.NewReader(out))}
		var msg []byte
		p := make([]byte, size)
		for i := 0; ; i++ {
			if i > 10000 {
				t.Fatalf("reads of %d: no end", size)
			}
			n, _, found, err := d.read(p)
			msg = append(msg, p[:n]...)
			if found {
				break
			}
			if err != nil {
				t.Fatalf("reads of %d: %v", size, err)
			}
		}
		if !bytes.Equal(msg, want) {
			t.Errorf("reads of %d: %q, want %q", size, msg, want)
		}
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

// The end is answered when the client has also sent QUIT and closed its
// side: go-smtp reads on to that close, and the message is whole all the
// same.
func TestMissedEndHalfClosed(t *testing.T) {
	e := newEnv(t)
	c := startData(t, e, e.options(Inbound))
	if _, err := c.nc.Write([]byte("Subject: x\r\n\r\nlast\r\r\n.\r\nQUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	c.nc.(*net.TCPConn).CloseWrite()
	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Fatalf("end of data: %q, want 250 queued", got)
	}
	if got := c.read(); !strings.HasPrefix(got, "421 4.4.2 ") {
		t.Fatalf("after the reply: %q, want 421", got)
	}
	if in := e.inbox("bob@example.org"); len(in) != 1 || !strings.HasSuffix(in[0].data, "\r\n\r\nlast\r\n\r\n") {
		t.Fatalf("bob's INBOX: %+v", in)
	}
}

// A client that sends the start of a possible end slowly, each octet well
// within the read timeout, is not cut: octets the scanner holds back count
// as the client's.
func TestMissedEndSlowClient(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.ReadTimeout = 2 * time.Second
	c := startData(t, e, opts)
	for _, part := range []string{"Subject: x\r\n\r\na\r\r\n", ".", "\r", "X\r\n.\r\n"} {
		if _, err := c.nc.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
	}
	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Fatalf("end of data: %q, want 250 queued", got)
	}
	if in := e.inbox("bob@example.org"); len(in) != 1 || !strings.HasSuffix(in[0].data, "\r\n\r\na\r\n\r\n\r\nX\r\n") {
		t.Fatalf("bob's INBOX: %+v", in)
	}
}

// A client that sends the end line slowly is not cut: go-smtp keeps its
// dot and CR to itself, and the connection's octets count all the same.
func TestMissedEndSlowEndLine(t *testing.T) {
	e := newEnv(t)
	opts := e.options(Inbound)
	opts.ReadTimeout = 1500 * time.Millisecond
	c := startData(t, e, opts)
	if _, err := c.nc.Write([]byte("Subject: slow\r\n\r\na")); err != nil {
		t.Fatal(err)
	}
	for _, o := range []byte("\r\n.\r\n") {
		time.Sleep(time.Second)
		if _, err := c.nc.Write([]byte{o}); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.read(); !strings.HasPrefix(got, "250 2.0.0 OK: queued as ") {
		t.Fatalf("end of data: %q, want 250 queued", got)
	}
}

// startData starts an inbound server with opts and opens a transaction
// for bob up to the 354.
func startData(t *testing.T, e *env, opts Options) *raw {
	r := e.start(opts, false)
	c := dialRaw(t, r.addr, nil)
	openData(t, c, "bob@example.org")
	return c
}
