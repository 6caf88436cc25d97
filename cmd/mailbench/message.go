package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"strconv"
	"time"
)

// The messages mailbench writes are plain RFC 5322 text, the same for
// every server: message seq of a run has the same body on every server and
// in every run, so that FETCH and SEARCH figures compare like with like.
// Only the X-Mailbench-Run header differs between runs (it is how the
// store check recognises this run's messages).
//
// Search targets, known from seq alone:
//   - \Seen is set on every message but one in ten (seq%10 == 0 is unseen);
//   - the Subject holds searchHeaderWord when seq%50 == 3;
//   - the body holds searchBodyWord when seq%100 == 7.
//
// No word of the vocabulary contains either search word.
const (
	searchHeaderWord = "quarterly"
	searchBodyWord   = "xylophone"
	minMessageSize   = 512
)

var vocabulary = []string{
	"the", "mail", "server", "message", "folder", "report", "meeting",
	"project", "update", "please", "review", "attached", "thanks",
	"schedule", "team", "budget", "notes", "draft", "tomorrow", "office",
	"client", "invoice", "order", "status", "question", "answer", "travel",
	"lunch", "agenda", "minutes", "release", "version", "backup", "network",
	"account", "weekend", "family", "photo", "garden", "recipe", "holiday",
	"ticket", "support", "kernel", "archive", "letter", "paper", "window",
	"river", "mountain", "coffee", "music", "planet", "yellow", "orange",
	"silver", "purple", "simple", "quiet", "rapid", "gentle", "bright", "and", "of",
}

func seenAt(seq int) bool      { return seq%10 != 0 }
func headerHitAt(seq int) bool { return seq%50 == 3 }
func bodyHitAt(seq int) bool   { return seq%100 == 7 }
func countSeqs(n int, f func(int) bool) int {
	c := 0
	for i := 0; i < n; i++ {
		if f(i) {
			c++
		}
	}
	return c
}

// generator makes the messages of one run.
type generator struct {
	run  string // 16 hex digits, fixed length so sizes do not vary by run
	from string
	to   string
}

func newGenerator(from, to string) *generator {
	var b [8]byte
	rand.Read(b[:])
	return &generator{run: hex.EncodeToString(b[:]), from: from, to: to}
}

var baseDate = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// header appends the header section of message seq, blank line included.
func (g *generator) header(buf []byte, seq int) []byte {
	s := seqString(seq)
	word := vocabulary[seq%len(vocabulary)]
	if headerHitAt(seq) {
		word = searchHeaderWord
	}
	buf = append(buf, "Date: "...)
	buf = baseDate.Add(time.Duration(seq)*time.Second).AppendFormat(buf, time.RFC1123Z)
	buf = append(buf, "\r\nFrom: Bench Sender <"...)
	buf = append(buf, g.from...)
	buf = append(buf, ">\r\nTo: <"...)
	buf = append(buf, g.to...)
	buf = append(buf, ">\r\nSubject: bench message "...)
	buf = append(buf, s...)
	buf = append(buf, ' ')
	buf = append(buf, word...)
	buf = append(buf, "\r\nMessage-ID: <"...)
	buf = append(buf, s...)
	buf = append(buf, '.')
	buf = append(buf, g.run...)
	buf = append(buf, "@mailbench.invalid>\r\nX-Mailbench-Run: "...)
	buf = append(buf, g.run...)
	buf = append(buf, "\r\nX-Mailbench-Seq: "...)
	buf = append(buf, s...)
	buf = append(buf, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"...)
	return buf
}

// seqString is seq in 8 digits, so that every header has the same length.
func seqString(seq int) string {
	s := strconv.Itoa(seq)
	for len(s) < 8 {
		s = "0" + s
	}
	return s
}

// message appends message seq with CRLF line ends, size octets long (or
// the header and one short line, when size is smaller than that).
func (g *generator) message(buf []byte, seq, size int) []byte {
	start := len(buf)
	buf = g.header(buf, seq)
	return appendBody(buf, seq, size-(len(buf)-start))
}

// appendBody appends lines of words, CRLF-terminated, exactly n octets
// when n >= 3 (a line of one character otherwise).
func appendBody(buf []byte, seq, n int) []byte {
	if n < 3 {
		return append(buf, "x\r\n"...)
	}
	rng := mrand.New(mrand.NewPCG(uint64(seq), 0x6d61696c62656e63))
	first := true
	var line []byte
	for n >= 84 {
		line = line[:0]
		if first && bodyHitAt(seq) {
			line = append(line, searchBodyWord...)
		}
		first = false
		for len(line) < 60 {
			if len(line) > 0 {
				line = append(line, ' ')
			}
			line = append(line, vocabulary[rng.IntN(len(vocabulary))]...)
		}
		buf = append(buf, line...)
		buf = append(buf, '\r', '\n')
		n -= len(line) + 2
	}
	// The last line takes exactly what is left (4..83 octets).
	k := n - 2
	line = line[:0]
	for len(line) < k {
		if len(line) > 0 {
			line = append(line, ' ')
		}
		line = append(line, vocabulary[rng.IntN(len(vocabulary))]...)
	}
	buf = append(buf, line[:k]...)
	return append(buf, '\r', '\n')
}

// toLF turns CRLF line ends into LF, as Maildir files hold them.
func toLF(msg []byte) []byte {
	return bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
}
